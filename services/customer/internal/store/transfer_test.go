package store_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/validate"
	"github.com/crmsuite/crm/services/customer/internal/customer"
	"github.com/crmsuite/crm/services/customer/internal/store"
	"github.com/crmsuite/crm/services/customer/internal/transfer"
)

var importHeader = []string{"客户名称", "客户类型", "所属行业", "统一社会信用代码", "联系人", "联系方式", "电子邮箱", "省份", "城市",
	"客户规模", "客户状态", "备注"}

func validUSCC(n int) string {
	body := fmt.Sprintf("91330100%09d", n)
	check, _ := validate.USCCCheckChar(body)
	return body + string(check)
}

// importRow is a valid row under importHeader; n makes every key unique.
func importRow(n int) []string {
	return []string{fmt.Sprintf("杭州导入测试%06d有限公司", n), "企业客户", "I65", validUSCC(n), "陈静", fmt.Sprintf("137%08d", n),
		fmt.Sprintf("c%d@example.com", n), "浙江", "杭州市", "51-200人", "潜在", "批量导入"}
}

// importRows returns n import rows, numbered from first.
func importRows(first, n int) [][]string {
	rows := make([][]string, n)
	for i := range rows {
		rows[i] = importRow(first + i)
	}
	return rows
}

func csvFile(rows ...[]string) []byte {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(importHeader)
	_ = w.WriteAll(rows)
	return append([]byte{0xEF, 0xBB, 0xBF}, b.String()...)
}

var importer = store.Actor{UserID: "u-sales1", Role: "sales", TeamID: "east"}

// queueImport uploads a file; its job is then queued.
func queueImport(t testing.TB, tr *store.Transfer, mode store.ImportMode, name string, data []byte) *store.ImportJob {
	t.Helper()
	ctx := context.Background()
	up, err := tr.BeginUpload(ctx, importer, transfer.ScopeOwn, store.ImportOptions{FileName: name, Mode: mode}, 100<<20)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 300_000)
		if err := up.Write(ctx, data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	queued, err := up.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return queued
}

// runImport uploads a file, claims the job and runs it, as the service's worker does.
func runImport(t testing.TB, tr *store.Transfer, mode store.ImportMode, name string, data []byte) *store.ImportJob {
	t.Helper()
	ctx := context.Background()
	queued := queueImport(t, tr, mode, name, data)
	job, err := tr.ClaimImportJob(ctx)
	if err != nil || job == nil || job.ID != queued.ID {
		t.Fatalf("claim: %v %v", job, err)
	}
	if err := tr.RunImportJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	done, err := tr.GetImportJob(ctx, job.ID, store.Reach{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type snapshot struct{ customers, live, outbox int }

func take(t testing.TB, pool *pgxpool.Pool) snapshot {
	return snapshot{
		customers: count(t, pool, `SELECT count(*) FROM customers`),
		live:      count(t, pool, `SELECT count(*) FROM customers WHERE deleted_at IS NULL`),
		outbox:    count(t, pool, `SELECT count(*) FROM outbox`),
	}
}

// mixedFile has rows 2–4 valid, row 5 invalid, row 6 the same company as an existing customer,
// row 7 a repeat of row 2.
func mixedFile(existing *customer.Customer) []byte {
	bad := importRow(5)
	bad[5] = "12345"
	dupExisting := importRow(6)
	dupExisting[0] = existing.Name
	dupInFile := importRow(7)
	dupInFile[5] = importRow(2)[5]
	return csvFile(importRow(2), importRow(3), importRow(4), bad, dupExisting, dupInFile)
}

func reasons(job *store.ImportJob) map[int]string {
	out := map[int]string{}
	for _, is := range job.Issues {
		out[is.Row] = is.Reason
	}
	return out
}

func TestImportDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	existing, err := st.Create(context.Background(), newCustomer(1, "u-sales9", "west"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	before := take(t, pool)
	job := runImport(t, tr, store.ModeDryRun, "客户.csv", mixedFile(existing))
	if after := take(t, pool); after != before {
		t.Fatalf("dry run changed data: %+v → %+v", before, after)
	}
	if count(t, pool, `SELECT count(*) FROM import_rows`) != 0 {
		t.Fatal("dry run recorded imported rows")
	}
	if job.Status != store.StatusDone || job.Created != 3 || job.Skipped != 2 || job.Failed != 1 || job.TotalRows != 6 || job.DoneRows != 6 ||
		job.Encoding != transfer.EncodingUTF8BOM || job.Format != transfer.FormatCSV {
		t.Fatalf("job = %+v", job)
	}
	want := map[int]string{5: validate.ReasonInvalidFormat, 6: transfer.ReasonDuplicateExisting, 7: transfer.ReasonDuplicateInFile}
	if fmt.Sprint(reasons(job)) != fmt.Sprint(want) {
		t.Fatalf("issues %v, want %v", reasons(job), want)
	}
	for _, is := range job.Issues {
		if is.Row == 6 && !strings.Contains(is.Message.ZH, existing.ID) {
			t.Errorf("duplicate message does not name %s: %s", existing.ID, is.Message.ZH)
		}
		if is.Row == 7 && (is.Column != "联系方式" || !strings.Contains(is.Message.ZH, "第 2 行")) {
			t.Errorf("in-file duplicate: %+v", is)
		}
	}
}

func TestImportModes(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	existing, err := st.Create(context.Background(), newCustomer(1, "u-sales9", "west"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	before := take(t, pool)

	// All or nothing: one invalid row, nothing is written.
	job := runImport(t, tr, store.ModeAllOrNothing, "客户.csv", mixedFile(existing))
	if after := take(t, pool); after != before {
		t.Fatalf("all-or-nothing with an invalid row changed data: %+v → %+v", before, after)
	}
	if job.Status != store.StatusFailed || job.ErrorReason != "ROWS_INVALID" || job.Created != 0 || job.Failed != 1 || job.Skipped != 2 {
		t.Fatalf("all-or-nothing job = %+v", job)
	}

	// All or nothing without invalid rows: the new rows are created, duplicates skipped.
	file := csvFile(importRow(10), importRow(11), importRow(12))
	dupe := importRow(13)
	dupe[0] = existing.Name
	job = runImport(t, tr, store.ModeAllOrNothing, "ok.csv", csvFile(importRow(10), importRow(11), dupe))
	if job.Status != store.StatusDone || job.Created != 2 || job.Skipped != 1 {
		t.Fatalf("all-or-nothing ok job = %+v", job)
	}

	// Valid only: the valid new rows are created, each with a customer.created event by the importer.
	before = take(t, pool)
	job = runImport(t, tr, store.ModeValidOnly, "客户.csv", mixedFile(existing))
	after := take(t, pool)
	if job.Status != store.StatusDone || job.Created != 3 || job.Failed != 1 || job.Skipped != 2 ||
		after.live != before.live+3 || after.outbox != before.outbox+4 {
		t.Fatalf("valid-only job = %+v, %+v → %+v", job, before, after)
	}
	rows, err := pool.Query(context.Background(), `SELECT payload FROM outbox ORDER BY id DESC LIMIT 4`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types := map[string]int{}
	for rows.Next() {
		var b []byte
		_ = rows.Scan(&b)
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		types[ev.GetType()]++
		if ev.GetActor().GetUserId() != importer.UserID {
			t.Errorf("%s by %q", ev.GetType(), ev.GetActor().GetUserId())
		}
		if ev.GetType() == "customer.created" {
			last := ev.GetChanges()[len(ev.GetChanges())-1]
			if last.GetField() != "import_job_id" || last.GetAfter().GetStringValue() != job.ID {
				t.Errorf("created event does not name the import: %v", last)
			}
		}
	}
	if types["customer.created"] != 3 || types["customer_import.completed"] != 1 {
		t.Fatalf("events %v", types)
	}
	var owner, team, createdBy string
	if err := pool.QueryRow(context.Background(), `SELECT owner_id, team_id, created_by FROM customers c JOIN import_rows r ON r.customer_id = c.id
		WHERE r.job_id = $1 AND r.row_number = 2`, job.ID).Scan(&owner, &team, &createdBy); err != nil {
		t.Fatal(err)
	}
	if owner != importer.UserID || team != importer.TeamID || createdBy != importer.UserID {
		t.Fatalf("owner %s team %s created by %s", owner, team, createdBy)
	}
	_ = file
}

func TestImportRerunCreatesNothing(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	rows := importRows(100, 30)
	data := csvFile(rows...)
	first := runImport(t, tr, store.ModeValidOnly, "a.csv", data)
	before := take(t, pool)
	again := runImport(t, tr, store.ModeValidOnly, "a.csv", data)
	if first.Created != 30 || again.Created != 0 || again.Skipped != 30 || take(t, pool) != before {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	if string(first.FileSHA256) != string(again.FileSHA256) || len(first.FileSHA256) != 32 {
		t.Fatal("same file, different digests")
	}
}

// importedRows returns which row of a job created which customer name.
func importedRows(t *testing.T, pool *pgxpool.Pool, jobID string) map[int]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT r.row_number, c.name FROM import_rows r JOIN customers c ON c.id = r.customer_id
		WHERE r.job_id = $1`, jobID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for rows.Next() {
		var n int
		var name string
		if err := rows.Scan(&n, &name); err != nil {
			t.Fatal(err)
		}
		out[n] = name
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportInBatchesDecidesAsInOne imports the same file in one batch and in batches of 7,
// which a valid-only import writes two at a time: duplicates within the file (in the same
// batch, the next one and further back), duplicates of existing customers and invalid rows must
// come out the same, with the same issues in the same order.
func TestImportInBatchesDecidesAsInOne(t *testing.T) {
	t.Parallel()
	var rows [][]string
	for i := range 90 {
		r := importRow(2000 + i)
		switch {
		case i%13 == 5:
			r[5] = "1380000" // invalid mobile
		case i%9 == 4 && i > 10:
			r[0] = importRow(2000 + i - 3)[0] // the name of a row in the same or the batch before
		case i%11 == 8 && i > 20:
			r[5] = importRow(2000 + i - 17)[5] // the mobile of a row two or three batches back
		}
		rows = append(rows, r)
	}
	existingRow := importRow(9000)
	rows[40][3] = existingRow[3] // the USCC of an existing customer
	file := csvFile(rows...)

	type result struct {
		created, skipped, failed int
		issues                   []transfer.Issue
		rows                     map[int]string
	}
	importWith := func(batch, maxConns int) result {
		st, pool := newStoreWithPool(t, maxConns)
		tr := store.NewTransfer(st)
		runImport(t, tr, store.ModeValidOnly, "existing.csv", csvFile(existingRow))
		store.SetImportBatch(tr, batch)
		job := runImport(t, tr, store.ModeValidOnly, "batches.csv", file)
		if job.Status != store.StatusDone || job.DoneRows != len(rows) {
			t.Fatalf("batch %d: job %+v", batch, job)
		}
		return result{job.Created, job.Skipped, job.Failed, job.Issues, importedRows(t, pool, job.ID)}
	}
	// A pool of three connections writes one batch at a time (see writePipelined).
	one, small, narrow := importWith(1000, 0), importWith(7, 0), importWith(7, 3)
	if one.created+one.skipped+one.failed != len(rows) || one.skipped < 10 || one.failed < 6 {
		t.Fatalf("the file does not exercise the checks: %+v", one)
	}
	for name, other := range map[string]result{"batches of 7": small, "batches of 7, one at a time": narrow} {
		if one.created != other.created || one.skipped != other.skipped || one.failed != other.failed {
			t.Errorf("created/skipped/failed: one batch %d/%d/%d, %s %d/%d/%d",
				one.created, one.skipped, one.failed, name, other.created, other.skipped, other.failed)
		}
		if !reflect.DeepEqual(one.rows, other.rows) {
			t.Errorf("created rows differ:\none batch %v\n%s %v", one.rows, name, other.rows)
		}
		if len(one.issues) != len(other.issues) {
			t.Fatalf("%d issues in one batch, %d in %s", len(one.issues), len(other.issues), name)
		}
		for i := range one.issues {
			a, b := one.issues[i], other.issues[i]
			// Existing customers have different ids in the two databases.
			if a.Row != b.Row || a.Field != b.Field || a.Reason != b.Reason || (a.Reason != "DUPLICATE_EXISTING" && a.Message != b.Message) {
				t.Errorf("issue %d: one batch %+v, %s %+v", i, a, name, b)
			}
		}
	}
}

// TestImportRedoesBatchesAfterAConcurrentCreate creates, while an import is between the
// duplicate check and the insert of a batch, a customer with the USCC of one of that batch's
// rows: the batch (and the one written with it) fail on the unique index and are written again,
// the row is skipped as a duplicate of the new customer, and every other row is created once.
func TestImportRedoesBatchesAfterAConcurrentCreate(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	store.SetImportBatch(tr, 5)
	rows := importRows(3000, 30)
	var mu sync.Mutex
	var rival string
	store.BeforeImportInsert(tr, func(ctx context.Context, firstRow int) {
		mu.Lock()
		defer mu.Unlock()
		// The third batch holds rows 10–14 of the file (lines 12–16); once, not when it is redone.
		if firstRow != 12 || rival != "" {
			return
		}
		c := newCustomer(77, "u-sales2", "east")
		c.USCC = rows[12][3]
		created, err := st.Create(ctx, c, store.CreateInput{}, admin)
		if err != nil {
			t.Errorf("concurrent create: %v", err)
			return
		}
		rival = created.ID
	})
	job := runImport(t, tr, store.ModeValidOnly, "race.csv", csvFile(rows...))
	mu.Lock()
	defer mu.Unlock()
	if rival == "" {
		t.Fatal("the concurrent create did not happen")
	}
	if job.Status != store.StatusDone || job.Created != 29 || job.Skipped != 1 || job.Failed != 0 {
		t.Fatalf("job %+v", job)
	}
	if r := reasons(job); len(r) != 1 || r[14] != "DUPLICATE_EXISTING" || !strings.Contains(job.Issues[0].Message.EN, rival) {
		t.Fatalf("issues %+v", job.Issues)
	}
	if n := count(t, pool, `SELECT count(*) FROM customers WHERE uscc = $1`, rows[12][3]); n != 1 {
		t.Fatalf("%d customers with the contested USCC", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM customers`); n != 30 {
		t.Fatalf("%d customers, want 29 imported and the rival", n)
	}
	if got := len(importedRows(t, pool, job.ID)); got != 29 {
		t.Fatalf("%d import rows, want 29", got)
	}
}

// TestImportResumesAfterAnInterruption stops a valid-only import (its process shutting down) in
// the middle of its batches, two of them in flight: the job goes back to the queue, and the next
// run creates the rest, each row once, counting the rows the first run created.
func TestImportResumesAfterAnInterruption(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	store.SetImportBatch(tr, 5)
	rows := importRows(5000, 40)
	queued := queueImport(t, tr, store.ModeValidOnly, "stop.csv", csvFile(rows...))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	// Stopped at the fourth batch (lines 17–21): it starts only once the second has committed.
	store.BeforeImportInsert(tr, func(_ context.Context, firstRow int) {
		if firstRow == 17 {
			stop()
		}
	})
	job, err := tr.ClaimImportJob(ctx)
	if err != nil || job == nil || job.ID != queued.ID {
		t.Fatalf("claim: %+v %v", job, err)
	}
	if err := tr.RunImportJob(ctx, job); err == nil {
		t.Fatal("the interrupted run reported no error")
	}
	partial := count(t, pool, `SELECT count(*) FROM customers`)
	if partial == 0 || partial >= len(rows) {
		t.Fatalf("%d customers after the interruption, want some but not all", partial)
	}
	if n := count(t, pool, `SELECT count(*) FROM import_rows WHERE job_id = $1`, job.ID); n != partial {
		t.Fatalf("%d import rows for %d customers", n, partial)
	}

	store.BeforeImportInsert(tr, nil)
	again, err := tr.ClaimImportJob(context.Background())
	if err != nil || again == nil || again.ID != job.ID {
		t.Fatalf("the interrupted job is not back in the queue: %+v %v", again, err)
	}
	if err := tr.RunImportJob(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	done, err := tr.GetImportJob(context.Background(), job.ID, store.Reach{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != store.StatusDone || done.Created != len(rows) || done.Skipped != 0 || len(done.Issues) != 0 {
		t.Fatalf("resumed job %+v", done)
	}
	if n := count(t, pool, `SELECT count(*) FROM customers`); n != len(rows) {
		t.Fatalf("%d customers, want %d", n, len(rows))
	}
	if got := importedRows(t, pool, job.ID); len(got) != len(rows) {
		t.Fatalf("%d import rows, want %d", len(got), len(rows))
	}
}

// TestImportsRunOneAtATime: a second job is not claimed while the first runs.
func TestImportsRunOneAtATime(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t)
	tr := store.NewTransfer(st)
	ctx := context.Background()
	queued := []*store.ImportJob{
		queueImport(t, tr, store.ModeValidOnly, "q1.csv", csvFile(importRow(4000))),
		queueImport(t, tr, store.ModeValidOnly, "q2.csv", csvFile(importRow(4001))),
	}
	first, err := tr.ClaimImportJob(ctx)
	if err != nil || first == nil || first.ID != queued[0].ID {
		t.Fatalf("first claim: %+v %v", first, err)
	}
	if second, err := tr.ClaimImportJob(ctx); second != nil || err != nil {
		t.Fatalf("claimed %+v (%v) while %s runs", second, err, first.ID)
	}
	if err := tr.RunImportJob(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, err := tr.ClaimImportJob(ctx)
	if err != nil || second == nil || second.ID != queued[1].ID {
		t.Fatalf("second claim: %+v %v", second, err)
	}
}

func TestUndoImportRemovesExactlyItsCustomers(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	ctx := context.Background()
	job := runImport(t, tr, store.ModeValidOnly, "a.csv", csvFile(importRow(1), importRow(2), importRow(3)))
	other, err := st.Create(ctx, newCustomer(9, "u-sales1", "east"), store.CreateInput{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	// One imported customer was deleted by hand already: the undo leaves it alone.
	var handDeleted string
	_ = pool.QueryRow(ctx, `SELECT customer_id FROM import_rows WHERE job_id = $1 AND row_number = 4`, job.ID).Scan(&handDeleted)
	if _, err := st.Update(ctx, store.UpdateInput{ID: handDeleted, Action: "deleted", Apply: func(c *customer.Customer, now time.Time) error {
		c.DeletedAt, c.DeleteReason = &now, "录入错误"
		return nil
	}}, admin); err != nil {
		t.Fatal(err)
	}
	before := take(t, pool)

	if _, err := tr.UndoImportJob(ctx, job.ID, store.Reach{OwnerID: "u-sales2"}, store.Actor{UserID: "u-sales2"}, ""); !errors.Is(err, store.ErrImportJobNotFound) {
		t.Fatalf("another rep undid the job: %v", err)
	}
	undone, err := tr.UndoImportJob(ctx, job.ID, store.Reach{OwnerID: importer.UserID}, importer, "文件选错了")
	if err != nil {
		t.Fatal(err)
	}
	after := take(t, pool)
	if undone.Status != store.StatusUndone || undone.UndoneCount != 2 || after.live != before.live-2 || after.outbox != before.outbox+3 {
		t.Fatalf("undo: %+v, %+v → %+v", undone, before, after)
	}
	if got, err := st.Get(ctx, other.ID, store.Reach{}, false); err != nil || got.Deleted() {
		t.Fatalf("the undo touched another customer: %v %v", got, err)
	}
	n := count(t, pool, `SELECT count(*) FROM customers c JOIN import_rows r ON r.customer_id = c.id
		WHERE r.job_id = $1 AND c.delete_reason = $2 AND c.deleted_by = $3`, job.ID, "撤销导入 "+job.ID+"：文件选错了", importer.UserID)
	if n != 2 {
		t.Fatalf("%d customers carry the undo's reason", n)
	}
	if evs := outboxEvents(t, pool); !strings.HasPrefix(evs[len(evs)-1], "customer_import.undone "+job.ID) ||
		!strings.HasPrefix(evs[len(evs)-2], "customer.deleted CUST-") {
		t.Fatalf("events %v", evs[len(evs)-3:])
	}
	var ue *store.UndoError
	if _, err := tr.UndoImportJob(ctx, job.ID, store.Reach{}, admin, ""); !errors.As(err, &ue) || ue.Status != store.StatusUndone {
		t.Fatalf("second undo: %v", err)
	}
	// After the undo the same file imports again.
	if again := runImport(t, tr, store.ModeValidOnly, "a.csv", csvFile(importRow(1), importRow(2), importRow(3))); again.Created != 3 {
		t.Fatalf("re-import after undo: %+v", again)
	}
	dry := runImport(t, tr, store.ModeDryRun, "a.csv", csvFile(importRow(50)))
	if _, err := tr.UndoImportJob(ctx, dry.ID, store.Reach{}, admin, ""); !errors.As(err, &ue) {
		t.Fatalf("undo of a dry run: %v", err)
	}
}

func TestBadFileChangesNothing(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	before := take(t, pool)
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"formula.csv", csvFile(importRow(1), append(importRow(2)[:11], "=1+1")), transfer.ReasonFormula},
		{"wrong.csv", append(csvFile(importRow(1)), 0xFF, 0x80), transfer.ReasonEncoding},
		{"broken.xlsx", []byte("PK\x03\x04 not a workbook"), transfer.ReasonXLSXBroken},
		{"columns.csv", []byte("客户名称,联系人\n某某,张三\n"), transfer.ReasonMissingColumns},
		{"header-only.csv", csvFile(), transfer.ReasonFileEmpty},
	}
	for _, tc := range cases {
		job := runImport(t, tr, store.ModeValidOnly, tc.name, tc.data)
		if job.Status != store.StatusFailed || job.ErrorReason != tc.reason || job.ErrorMessage.ZH == "" {
			t.Errorf("%s: %+v", tc.name, job)
		}
		if tc.reason == transfer.ReasonFormula && (len(job.Issues) != 1 || job.Issues[0].Row != 3 || job.Issues[0].Column != "L") {
			t.Errorf("formula issues %+v", job.Issues)
		}
	}
	if after := take(t, pool); after != before {
		t.Fatalf("bad files changed data: %+v → %+v", before, after)
	}
	if n := count(t, pool, `SELECT count(*) FROM import_chunks`); n != 0 {
		t.Fatalf("%d file pieces left behind", n)
	}
}

func TestUploadLimitAndAbandonedJobs(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	ctx := context.Background()
	up, err := tr.BeginUpload(ctx, importer, transfer.ScopeOwn, store.ImportOptions{FileName: "big.csv", Mode: store.ModeDryRun}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Write(ctx, make([]byte, 11)); !errors.Is(err, store.ErrFileTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	up.Abort()
	if n := count(t, pool, `SELECT count(*) FROM import_jobs`); n != 0 {
		t.Fatalf("aborted upload left %d jobs", n)
	}

	// A job whose worker died (no heartbeat) goes back to the queue and runs again.
	up, _ = tr.BeginUpload(ctx, importer, transfer.ScopeOwn, store.ImportOptions{FileName: "a.csv", Mode: store.ModeValidOnly}, 1<<20)
	_ = up.Write(ctx, csvFile(importRow(1)))
	queued, _ := up.Commit(ctx)
	job, err := tr.ClaimImportJob(ctx)
	if err != nil || job.ID != queued.ID {
		t.Fatal(job, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE import_jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = $1`, job.ID); err != nil {
		t.Fatal(err)
	}
	again, err := tr.ClaimImportJob(ctx)
	if err != nil || again == nil || again.ID != job.ID || again.Attempts != 2 {
		t.Fatalf("stale job not requeued: %+v %v", again, err)
	}
	if err := tr.RunImportJob(ctx, again); err != nil {
		t.Fatal(err)
	}
	if next, err := tr.ClaimImportJob(ctx); next != nil || err != nil {
		t.Fatalf("queue not empty: %+v %v", next, err)
	}
}

func TestExportCustomersPagesEverything(t *testing.T) {
	t.Parallel()
	st, pool := newStore(t)
	tr := store.NewTransfer(st)
	ctx := context.Background()
	rows := importRows(0, 2500)
	if job := runImport(t, tr, store.ModeValidOnly, "a.csv", csvFile(rows...)); job.Created != 2500 {
		t.Fatalf("import: %+v", job)
	}
	seen := map[string]bool{}
	n, err := tr.ExportCustomers(ctx, store.ListInput{Reach: store.Reach{OwnerID: importer.UserID}, Order: customer.Order{Field: "create_time", Desc: true}},
		func(c *customer.Customer) error {
			seen[c.ID] = true
			return nil
		})
	if err != nil || n != 2500 || len(seen) != 2500 {
		t.Fatalf("exported %d (%d distinct): %v", n, len(seen), err)
	}
	if n, _ := tr.ExportCustomers(ctx, store.ListInput{Reach: store.Reach{OwnerID: "u-other"}, Order: customer.Order{Field: "name"}},
		func(*customer.Customer) error { return nil }); n != 0 {
		t.Fatalf("another rep exported %d", n)
	}
	before := count(t, pool, `SELECT count(*) FROM outbox`)
	if err := tr.RecordExport(ctx, store.ExportRecord{ID: "0190b5f0-0000-7000-8000-000000000001", Format: "csv", Filter: `province = "浙江省"`,
		Rows: 2500, Masked: true, Completed: true}, importer); err != nil {
		t.Fatal(err)
	}
	evs := outboxEvents(t, pool)
	if len(evs) != before+1 || evs[len(evs)-1] != "customer_export.exported 0190b5f0-0000-7000-8000-000000000001" {
		t.Fatalf("export not audited: %v", evs[len(evs)-1])
	}
}
