package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xuri/excelize/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/grpcx"
	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	"github.com/crmsuite/crm/services/customer/internal/server"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

type transferEnv struct {
	customers customerv1.CustomerServiceClient
	transfer  customerv1.CustomerTransferServiceClient
	pool      *pgxpool.Pool
}

// startTransfer serves both services through a real gRPC server with the service's policy, and
// runs the import worker, as cmd/customer does. Uploads are limited to maxUpload bytes.
func startTransfer(t *testing.T, maxUpload int64) transferEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgdb.Connect(ctx, testkit.NewDatabase(t), store.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	verifier, err := authn.NewHS256Verifier(secret, "crm-dev", "crm")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(pool, server.EventData)
	srv, _ := grpcx.NewServer(grpcx.ServerConfig{Domain: server.Domain, Verifier: verifier, Policy: server.Policy, Logger: log})
	customerv1.RegisterCustomerServiceServer(srv, server.New(st, nil, nil, log))
	transfers := server.NewTransfer(store.NewTransfer(st), maxUpload, log)
	customerv1.RegisterCustomerTransferServiceServer(srv, transfers)
	if missing := server.Policy.Uncovered(srv.GetServiceInfo()); len(missing) > 0 {
		t.Fatalf("RPCs without a permission: %v", missing)
	}
	done := make(chan struct{})
	go func() { _ = transfers.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(serve(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return transferEnv{customers: customerv1.NewCustomerServiceClient(conn), transfer: customerv1.NewCustomerTransferServiceClient(conn), pool: pool}
}

var transferHeader = []string{"客户名称*", "客户类型*", "所属行业", "联系人*", "联系方式(手机)*", "省份*", "城市*", "客户规模*", "备注"}

func transferRow(n int) []string {
	return []string{fmt.Sprintf("宁波港城%05d贸易有限公司", n), "企业客户", "F51", "孙丽", fmt.Sprintf("135%08d", n), "浙江", "宁波市", "1-50人", "'=1+1"}
}

func csvBytes(rows ...[]string) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xEF, 0xBB, 0xBF})
	w := csv.NewWriter(&b)
	_ = w.Write(transferHeader)
	_ = w.WriteAll(rows)
	return b.Bytes()
}

// upload sends a file in small pieces and returns the job (or the call's error).
func upload(ctx context.Context, c customerv1.CustomerTransferServiceClient, opts *customerv1.ImportOptions, data []byte) (*customerv1.ImportJob, error) {
	stream, err := c.ImportCustomers(ctx)
	if err != nil {
		return nil, err
	}
	// A Send that fails with io.EOF means the server ended the stream (a refusal, say): its status
	// comes from CloseAndRecv.
	if err := stream.Send(&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Options{Options: opts}}); err != nil {
		if errors.Is(err, io.EOF) {
			return stream.CloseAndRecv()
		}
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 1000)
		if err := stream.Send(&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Chunk{Chunk: data[:n]}}); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

func importAs(t *testing.T, e transferEnv, user string, mode customerv1.ImportMode, data []byte) *customerv1.ImportJob {
	t.Helper()
	job, err := upload(as(t, user), e.transfer, &customerv1.ImportOptions{FileName: "客户.csv", Mode: mode, WaitSeconds: 20}, data)
	if err != nil {
		t.Fatal(err)
	}
	if job.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_DONE && job.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_FAILED {
		t.Fatalf("job did not finish: %v", job)
	}
	return job
}

func TestTransferRoleMatrix(t *testing.T) {
	e := startTransfer(t, 0)
	job := importAs(t, e, "sales1", customerv1.ImportMode_IMPORT_MODE_DRY_RUN, csvBytes(transferRow(1)))
	id := job.GetImportJobId()
	calls := map[string]func(ctx context.Context) error{
		"Import": func(ctx context.Context) error {
			_, err := upload(ctx, e.transfer, &customerv1.ImportOptions{FileName: "a.csv", Mode: customerv1.ImportMode_IMPORT_MODE_DRY_RUN, WaitSeconds: 1},
				csvBytes(transferRow(2)))
			return err
		},
		"Get": func(ctx context.Context) error {
			_, err := e.transfer.GetImportJob(ctx, &customerv1.GetImportJobRequest{ImportJobId: id})
			return err
		},
		"Issues": func(ctx context.Context) error {
			_, err := e.transfer.ListImportJobIssues(ctx, &customerv1.ListImportJobIssuesRequest{ImportJobId: id})
			return err
		},
		"Download": func(ctx context.Context) error {
			_, _, _, err := testkit.Download(e.transfer.DownloadImportJobIssues(ctx, &customerv1.DownloadImportJobIssuesRequest{ImportJobId: id}))
			return err
		},
		"List": func(ctx context.Context) error {
			_, err := e.transfer.ListImportJobs(ctx, &customerv1.ListImportJobsRequest{})
			return err
		},
		"Export": func(ctx context.Context) error {
			_, _, _, err := testkit.Download(e.transfer.ExportCustomers(ctx, &customerv1.ExportCustomersRequest{}))
			return err
		},
		"Refs": func(ctx context.Context) error {
			_, err := customerRefs(ctx, e.transfer, &customerv1.StreamCustomerRefsRequest{})
			return err
		},
	}
	const (
		ok     = codes.OK
		denied = codes.PermissionDenied
		hidden = codes.NotFound
		anon   = codes.Unauthenticated
	)
	// The job belongs to sales1 of team east.
	matrix := map[string]map[string]codes.Code{
		"Import":   {"admin": ok, "manager": ok, "sales1": ok, "service": denied, "executive": denied, "": anon},
		"Get":      {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": denied, "executive": denied},
		"Issues":   {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": denied, "executive": denied},
		"Download": {"admin": ok, "manager": ok, "managerW": hidden, "sales1": ok, "sales2": hidden, "service": denied, "executive": denied},
		"List":     {"admin": ok, "manager": ok, "sales1": ok, "service": denied, "executive": denied, "": anon},
		"Export":   {"admin": ok, "manager": ok, "sales1": ok, "service": denied, "executive": denied, "": anon},
		"Refs":     {"admin": ok, "manager": ok, "sales1": ok, "service": denied, "executive": denied, "": anon},
	}
	for rpc, byUser := range matrix {
		for user, want := range byUser {
			t.Run(rpc+"/"+user, func(t *testing.T) {
				if got := status.Code(calls[rpc](as(t, user))); got != want {
					t.Fatalf("%s as %q: %v, want %v", rpc, user, got, want)
				}
			})
		}
	}
	// Undo: others do not see the job; its owner may undo it, but a dry run has nothing to undo.
	for user, want := range map[string]codes.Code{"sales2": hidden, "managerW": hidden, "service": denied, "executive": denied, "sales1": codes.FailedPrecondition} {
		if _, err := e.transfer.UndoImportJob(as(t, user), &customerv1.UndoImportJobRequest{ImportJobId: id}); status.Code(err) != want {
			t.Errorf("undo as %s: %v, want %v", user, err, want)
		}
	}
	list, err := e.transfer.ListImportJobs(as(t, "sales2"), &customerv1.ListImportJobsRequest{})
	if err != nil || len(list.GetImportJobs()) != 0 {
		t.Fatalf("sales2 lists %v %v", list, err)
	}
}

func TestImportThroughGRPC(t *testing.T) {
	e := startTransfer(t, 0)
	bad := transferRow(3)
	bad[4] = "1234"
	data := csvBytes(transferRow(1), transferRow(2), bad, transferRow(1))
	job := importAs(t, e, "sales1", customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, data)
	if job.GetCreatedCount() != 2 || job.GetFailedCount() != 1 || job.GetSkippedCount() != 1 || job.GetTotalRows() != 4 || job.GetDoneRows() != 4 ||
		job.GetEncoding() != "UTF-8-BOM" || job.GetFormat() != customerv1.FileFormat_FILE_FORMAT_CSV || len(job.GetIssues()) != 2 ||
		job.GetCreatedBy() != "u-sales1" || job.GetMode() != customerv1.ImportMode_IMPORT_MODE_VALID_ONLY || len(job.GetColumns()) != 9 {
		t.Fatalf("job %v", job)
	}
	first := job.GetIssues()[0]
	if first.GetRow() != 4 || first.GetColumn() != "联系方式(手机)*" || first.GetField() != "mobile" || first.GetReason() != "INVALID_FORMAT" ||
		first.GetKind() != customerv1.ImportIssueKind_IMPORT_ISSUE_KIND_ERROR || !strings.Contains(first.GetMessage(), "手机号") {
		t.Fatalf("issue %v", first)
	}

	// The report in English, a page at a time.
	en := metadata.AppendToOutgoingContext(as(t, "sales1"), "accept-language", "en")
	page, err := e.transfer.ListImportJobIssues(en, &customerv1.ListImportJobIssuesRequest{ImportJobId: job.GetImportJobId(), PageSize: 1})
	if err != nil || len(page.GetIssues()) != 1 || page.GetNextPageToken() == "" || !strings.Contains(page.GetIssues()[0].GetMessage(), "mobile") {
		t.Fatalf("page 1: %v %v", page, err)
	}
	page, err = e.transfer.ListImportJobIssues(en, &customerv1.ListImportJobIssuesRequest{ImportJobId: job.GetImportJobId(), PageSize: 1, PageToken: page.GetNextPageToken()})
	if err != nil || len(page.GetIssues()) != 1 || page.GetNextPageToken() != "" || page.GetIssues()[0].GetReason() != "DUPLICATE_IN_FILE" {
		t.Fatalf("page 2: %v %v", page, err)
	}
	name, ctype, report, err := testkit.Download(e.transfer.DownloadImportJobIssues(as(t, "sales1"), &customerv1.DownloadImportJobIssuesRequest{ImportJobId: job.GetImportJobId()}))
	if err != nil || name != "导入问题-"+job.GetImportJobId()+".csv" || !strings.HasPrefix(ctype, "text/csv") || !bytes.HasPrefix(report, []byte("\ufeff行号,列")) ||
		!strings.Contains(string(report), "\r\n5,客户名称*,name,DUPLICATE_IN_FILE,已跳过（重复）,与文件第 2 行重复") {
		t.Fatalf("report %q %q %q %v", name, ctype, report, err)
	}

	// The customers exist, owned by the importer, and the formula-like remark was kept as text.
	list, err := e.customers.ListCustomers(as(t, "sales1"), &customerv1.ListCustomersRequest{})
	if err != nil || len(list.GetCustomers()) != 2 || list.GetCustomers()[0].GetRemarks() != "=1+1" || list.GetCustomers()[0].GetCreatedBy() != "u-sales1" {
		t.Fatalf("customers %v %v", list, err)
	}

	// Undo as the importer: exactly the two customers go, with a reason that names the job.
	undone, err := e.transfer.UndoImportJob(as(t, "sales1"), &customerv1.UndoImportJobRequest{ImportJobId: job.GetImportJobId(), Reason: "导错了"})
	if err != nil || undone.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_UNDONE || undone.GetUndoneCount() != 2 || undone.GetUndoneBy() != "u-sales1" {
		t.Fatalf("undo %v %v", undone, err)
	}
	list, _ = e.customers.ListCustomers(as(t, "admin"), &customerv1.ListCustomersRequest{ShowDeleted: true})
	for _, c := range list.GetCustomers() {
		if c.GetDeleteReason() != "撤销导入 "+job.GetImportJobId()+"：导错了" {
			t.Errorf("%s: delete reason %q", c.GetCustomerId(), c.GetDeleteReason())
		}
	}
	_, err = e.transfer.UndoImportJob(as(t, "sales1"), &customerv1.UndoImportJobRequest{ImportJobId: job.GetImportJobId()})
	if status.Code(err) != codes.FailedPrecondition || reason(err) != "IMPORT_NOT_UNDOABLE" {
		t.Fatalf("second undo: %v", err)
	}
}

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func TestImportRequestValidation(t *testing.T) {
	e := startTransfer(t, 2000)
	valid := &customerv1.ImportOptions{FileName: "a.csv", Mode: customerv1.ImportMode_IMPORT_MODE_DRY_RUN}
	cases := []struct {
		name   string
		user   string
		opts   *customerv1.ImportOptions
		data   []byte
		reason string
		field  string
	}{
		{"no mode", "sales1", &customerv1.ImportOptions{FileName: "a.csv"}, csvBytes(transferRow(1)), "", "options.mode"},
		{"no file name", "sales1", &customerv1.ImportOptions{Mode: customerv1.ImportMode_IMPORT_MODE_DRY_RUN}, csvBytes(transferRow(1)), "", "options.file_name"},
		{"unknown mapping", "admin", &customerv1.ImportOptions{FileName: "a.csv", Mode: customerv1.ImportMode_IMPORT_MODE_DRY_RUN,
			ColumnMapping: map[string]string{"联系人": "contact"}}, csvBytes(transferRow(1)), "", "options.column_mapping[联系人]"},
		{"sales for another owner", "sales1", &customerv1.ImportOptions{FileName: "a.csv", Mode: customerv1.ImportMode_IMPORT_MODE_DRY_RUN,
			DefaultOwnerId: "u-sales2"}, csvBytes(transferRow(1)), "", "options.default_owner_id"},
		{"manager for another team", "manager", &customerv1.ImportOptions{FileName: "a.csv", Mode: customerv1.ImportMode_IMPORT_MODE_DRY_RUN,
			DefaultTeamId: "west"}, csvBytes(transferRow(1)), "", "options.default_team_id"},
		{"empty file", "sales1", valid, nil, "FILE_EMPTY", ""},
		{"too large", "sales1", valid, bytes.Repeat([]byte("a,b\n"), 600), "FILE_TOO_LARGE", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := upload(as(t, tc.user), e.transfer, tc.opts, tc.data)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("%v", err)
			}
			if tc.reason != "" && reason(err) != tc.reason {
				t.Fatalf("reason %q: %v", reason(err), err)
			}
			if tc.field != "" && !strings.Contains(fmt.Sprint(status.Convert(err).Details()), tc.field) {
				t.Fatalf("no violation of %s: %v", tc.field, status.Convert(err).Details())
			}
		})
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM import_jobs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused uploads left %d jobs (%v)", n, err)
	}
}

// customerRefs collects every page of StreamCustomerRefs.
func customerRefs(ctx context.Context, c customerv1.CustomerTransferServiceClient, req *customerv1.StreamCustomerRefsRequest) ([]*customerv1.CustomerRef, error) {
	stream, err := c.StreamCustomerRefs(ctx, req)
	if err != nil {
		return nil, err
	}
	var refs []*customerv1.CustomerRef
	for {
		page, err := stream.Recv()
		if err == io.EOF {
			return refs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(page.GetCustomers()) == 0 {
			return nil, fmt.Errorf("empty page")
		}
		refs = append(refs, page.GetCustomers()...)
	}
}

// TestCustomerRefsFollowTheExport: the customers whose follow-ups, needs and feedback another
// service exports are exactly the customers the caller's customer export holds.
func TestCustomerRefsFollowTheExport(t *testing.T) {
	e := startTransfer(t, 0)
	importAs(t, e, "sales1", customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, csvBytes(transferRow(1), transferRow(2)))
	importAs(t, e, "admin", customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, csvBytes(transferRow(3)))
	ids := func(user string, req *customerv1.StreamCustomerRefsRequest) []string {
		t.Helper()
		refs, err := customerRefs(as(t, user), e.transfer, req)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		var out []string
		for _, r := range refs {
			if r.GetCustomerId() == "" || r.GetName() == "" {
				t.Fatalf("ref %v", r)
			}
			out = append(out, r.GetCustomerId())
		}
		return out
	}
	for _, tc := range []struct {
		user string
		req  *customerv1.StreamCustomerRefsRequest
	}{
		{"sales1", &customerv1.StreamCustomerRefsRequest{}},
		{"sales1", &customerv1.StreamCustomerRefsRequest{Filter: `province = "浙江"`}},
		{"sales2", &customerv1.StreamCustomerRefsRequest{}},
		{"admin", &customerv1.StreamCustomerRefsRequest{}},
	} {
		_, _, data, err := testkit.Download(e.transfer.ExportCustomers(as(t, tc.user), &customerv1.ExportCustomersRequest{Filter: tc.req.GetFilter()}))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range testkit.CSVRows(t, data) {
			want = append(want, r["客户编号"])
		}
		if got := ids(tc.user, tc.req); !slices.Equal(got, want) {
			t.Errorf("%s %q: refs %v, export %v", tc.user, tc.req.GetFilter(), got, want)
		}
	}
	if _, err := customerRefs(as(t, "sales1"), e.transfer, &customerv1.StreamCustomerRefsRequest{RevealPii: true}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("sales1 unmasked: %v", err)
	}
	if _, err := customerRefs(as(t, "sales1"), e.transfer, &customerv1.StreamCustomerRefsRequest{Filter: "colour = red"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestExportPerRole(t *testing.T) {
	e := startTransfer(t, 0)
	importAs(t, e, "sales1", customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, csvBytes(transferRow(1), transferRow(2)))
	importAs(t, e, "admin", customerv1.ImportMode_IMPORT_MODE_VALID_ONLY, csvBytes(transferRow(3)))
	export := func(user string, req *customerv1.ExportCustomersRequest) ([]map[string]string, string, error) {
		name, _, data, err := testkit.Download(e.transfer.ExportCustomers(as(t, user), req))
		if err != nil {
			return nil, "", err
		}
		return testkit.CSVRows(t, data), name, nil
	}
	rows, name, err := export("sales1", &customerv1.ExportCustomersRequest{Filter: `province = "浙江"`})
	if err != nil || len(rows) != 2 || !strings.HasPrefix(name, "客户导出-") || !strings.HasSuffix(name, ".csv") {
		t.Fatalf("sales1 export: %d rows, %q, %v", len(rows), name, err)
	}
	if r := rows[0]; r["联系方式(手机)"] != "135****0002" || r["联系人"] != "孙*" || r["备注"] != "'=1+1" || r["客户名称"] != "宁波港城00002贸易有限公司" {
		t.Fatalf("sales1 row %v", r)
	}
	if rows, _, err := export("sales2", &customerv1.ExportCustomersRequest{}); err != nil || len(rows) != 0 {
		t.Fatalf("sales2 exports %d rows: %v", len(rows), err)
	}
	if _, _, err := export("sales1", &customerv1.ExportCustomersRequest{RevealPii: true}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("sales1 unmasked: %v", err)
	}
	if _, _, err := export("sales1", &customerv1.ExportCustomersRequest{Filter: "colour = red"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad filter: %v", err)
	}
	rows, _, err = export("admin", &customerv1.ExportCustomersRequest{RevealPii: true, OrderBy: "name"})
	if err != nil || len(rows) != 3 || rows[0]["联系方式(手机)"] != "13500000001" || rows[0]["联系人"] != "孙丽" {
		t.Fatalf("admin export: %v %v", rows, err)
	}

	// XLSX as a manager of the team, in English.
	en := metadata.AppendToOutgoingContext(as(t, "manager"), "accept-language", "en")
	name, ctype, data, err := testkit.Download(e.transfer.ExportCustomers(en, &customerv1.ExportCustomersRequest{Format: customerv1.FileFormat_FILE_FORMAT_XLSX}))
	if err != nil || !strings.HasPrefix(name, "customers-") || !strings.HasSuffix(name, ".xlsx") || !strings.Contains(ctype, "spreadsheetml") {
		t.Fatalf("manager xlsx: %q %q %v", name, ctype, err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	xrows, _ := f.GetRows("Customers")
	if len(xrows) != 3 || xrows[0][1] != "Customer name" || xrows[1][7] != "135****0002" {
		t.Fatalf("xlsx rows %v", xrows)
	}

	// Every export is audited with who, which filter and how many rows.
	type audit struct{ actor, filter, format, masked, rows string }
	var audits []audit
	rowsq, err := e.pool.Query(context.Background(), `SELECT payload FROM outbox WHERE subject = 'crm.customer.customer_export.exported' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rowsq.Close()
	for rowsq.Next() {
		var b []byte
		_ = rowsq.Scan(&b)
		ev, err := events.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		a := audit{actor: ev.GetActor().GetUserId()}
		for _, ch := range ev.GetChanges() {
			v := ch.GetAfter()
			switch ch.GetField() {
			case "filter":
				a.filter = v.GetStringValue()
			case "format":
				a.format = v.GetStringValue()
			case "masked":
				a.masked = fmt.Sprint(v.GetBoolValue())
			case "row_count":
				a.rows = fmt.Sprint(v.GetNumberValue())
			}
		}
		audits = append(audits, a)
	}
	want := []audit{{"u-sales1", `province = "浙江"`, "csv", "true", "2"}, {"u-sales2", "", "csv", "true", "0"},
		{"u-admin", "", "csv", "false", "3"}, {"u-manager", "", "xlsx", "true", "2"}}
	if fmt.Sprint(audits) != fmt.Sprint(want) {
		t.Fatalf("audits\n got %v\nwant %v", audits, want)
	}
}

func TestBigFileRunsAsJob(t *testing.T) {
	e := startTransfer(t, 0)
	var rows [][]string
	for i := range 5000 {
		rows = append(rows, transferRow(i))
	}
	job, err := upload(as(t, "manager"), e.transfer, &customerv1.ImportOptions{FileName: "big.csv", Mode: customerv1.ImportMode_IMPORT_MODE_VALID_ONLY,
		WaitSeconds: 0, DefaultOwnerId: "u-sales2"}, csvBytes(rows...))
	if err != nil {
		t.Fatal(err)
	}
	// Progress is visible while it runs, and the job finishes on its own.
	deadline := time.Now().Add(60 * time.Second)
	for job.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_DONE {
		if time.Now().After(deadline) || job.GetState() == customerv1.ImportJobState_IMPORT_JOB_STATE_FAILED {
			t.Fatalf("job stuck: %v", job)
		}
		if job.GetDoneRows() > job.GetTotalRows() {
			t.Fatalf("progress %d/%d", job.GetDoneRows(), job.GetTotalRows())
		}
		time.Sleep(50 * time.Millisecond)
		if job, err = e.transfer.GetImportJob(as(t, "manager"), &customerv1.GetImportJobRequest{ImportJobId: job.GetImportJobId()}); err != nil {
			t.Fatal(err)
		}
	}
	if job.GetCreatedCount() != 5000 || job.GetDoneRows() != 5000 || job.GetTotalRows() != 5000 {
		t.Fatalf("job %v", job)
	}
	c, err := e.customers.ListCustomers(as(t, "sales2"), &customerv1.ListCustomersRequest{PageSize: 1})
	if err != nil || len(c.GetCustomers()) != 1 || c.GetCustomers()[0].GetTeamId() != "east" {
		t.Fatalf("owner: %v %v", c, err)
	}
}
