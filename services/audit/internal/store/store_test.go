package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/pkg/testkit"
	"github.com/crmsuite/crm/services/audit/internal/audit"
)

// newStore returns a Store on a fresh, migrated database, and its pool for direct SQL.
func newStore(t *testing.T) (*Store, *pgxpool.Pool, string) {
	t.Helper()
	url := testkit.NewDatabase(t)
	pool := connect(t, url)
	if err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	return New(pool), pool, url
}

func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgdb.Connect(t.Context(), url, Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

var base = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// entry is a valid entry; i varies its id and time.
func entry(i int, entityID, entityType, actorID, eventType string) audit.Entry {
	return audit.Entry{
		EventID:    uuid.Must(uuid.NewV7()).String(),
		EventType:  eventType,
		Source:     entityType,
		EntityType: entityType,
		EntityID:   entityID,
		EventTime:  base.Add(time.Duration(i) * time.Minute),
		Actor:      audit.Actor{UserID: actorID, Role: "sales", TeamID: "east"},
		Changes:    []byte{byte(i), 1, 2},
		TraceID:    "4bf92f3577b34da6a3ce929d0e0e4736",
	}
}

func mustAppend(t *testing.T, s *Store, e audit.Entry) audit.Record {
	t.Helper()
	r, dup, err := s.Append(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if dup {
		t.Fatalf("Append(%s) reported a duplicate", e.EventID)
	}
	return r
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	_, pool, _ := newStore(t)
	if err := Migrate(t.Context(), pool); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
}

func TestAppendChainsInOrder(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	var prev audit.Record
	for i := range 5 {
		r := mustAppend(t, s, entry(i, "CUST-1", "customer", "u-1", "customer.updated"))
		if r.Sequence != int64(i+1) {
			t.Fatalf("record %d has sequence %d", i+1, r.Sequence)
		}
		wantPrev := audit.GenesisHash
		if i > 0 {
			wantPrev = prev.Hash
		}
		if r.PrevHash != wantPrev || r.Hash != audit.Hash(r.PrevHash, r.Sequence, r.Entry) {
			t.Fatalf("record %d: prev %s hash %s; want prev %s and its own hash", r.Sequence, r.PrevHash, r.Hash, wantPrev)
		}
		if r.RecordTime.IsZero() {
			t.Fatalf("record %d has no record time", r.Sequence)
		}
		prev = r
	}
	v, err := s.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (audit.Verification{OK: true, Checked: 5}); v != want {
		t.Fatalf("Verify = %+v, want %+v", v, want)
	}
}

func TestAppendRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	e := entry(1, "CUST-20261123-0001", "customer", "u-1", "customer.updated")
	e.EventTime = audit.NormalTime(time.Date(2026, 11, 23, 17, 30, 0, 123456000, time.FixedZone("CST", 8*3600)))
	written := mustAppend(t, s, e)
	got, err := s.List(t.Context(), audit.Filter{}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("List returned %d records, want 1", len(got))
	}
	if !reflect.DeepEqual(got[0], written) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got[0], written)
	}
	if got[0].Hash != audit.Hash(got[0].PrevHash, got[0].Sequence, got[0].Entry) {
		t.Fatal("the record read back does not match its hash")
	}
}

func TestAppendIsIdempotent(t *testing.T) {
	t.Parallel()
	s, pool, _ := newStore(t)
	e := entry(1, "CUST-1", "customer", "u-1", "customer.created")
	first := mustAppend(t, s, e)
	mustAppend(t, s, entry(2, "CUST-1", "customer", "u-1", "customer.updated"))

	again, dup, err := s.Append(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if !dup {
		t.Fatal("the same event appended twice was not reported as a duplicate")
	}
	if !reflect.DeepEqual(again, first) {
		t.Fatalf("duplicate returned %+v, want the first record %+v", again, first)
	}
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM audit_events WHERE event_id = $1", e.EventID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows for one event, want 1", n)
	}
}

// TestConcurrentAppendsFromReplicas appends from several pools at once, as several audit replicas
// would: the advisory lock must keep the chain gapless and linked, and each event recorded once.
func TestConcurrentAppendsFromReplicas(t *testing.T) {
	t.Parallel()
	_, _, url := newStore(t)
	const replicas, perReplica = 3, 20
	stores := make([]*Store, replicas)
	for i := range stores {
		stores[i] = New(connect(t, url))
	}
	// Every replica also receives every event of one shared batch (redelivery racing itself).
	shared := make([]audit.Entry, 5)
	for i := range shared {
		shared[i] = entry(i, "CUST-shared", "customer", "u-0", "customer.updated")
	}
	var wg sync.WaitGroup
	errs := make(chan error, replicas*(perReplica+len(shared)))
	for r, s := range stores {
		wg.Go(func() {
			for i := range perReplica {
				if _, _, err := s.Append(context.Background(), entry(i, fmt.Sprintf("CUST-%d", r), "customer", "u-1", "customer.updated")); err != nil {
					errs <- err
				}
				if i < len(shared) {
					if _, _, err := s.Append(context.Background(), shared[i]); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, err := stores[0].Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (audit.Verification{OK: true, Checked: replicas*perReplica + int64(len(shared))}); v != want {
		t.Fatalf("Verify = %+v, want %+v", v, want)
	}
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	// seq: entity, type, actor, event type; event time = base + i minutes (i = seq-1).
	rows := []struct{ entity, etype, actor, event string }{
		{"CUST-1", "customer", "u-1", "customer.created"},  // 1
		{"CUST-2", "customer", "u-2", "customer.created"},  // 2
		{"CUST-1", "customer", "u-1", "customer.updated"},  // 3
		{"F-1", "followup", "u-2", "followup.created"},     // 4
		{"CUST-1", "customer", "u-3", "customer.deleted"},  // 5
		{"CUST-2", "customer", "u-1", "customer.updated"},  // 6
		{"F-1", "followup", "u-1", "followup.updated"},     // 7
		{"CUST-1", "customer", "u-2", "customer.restored"}, // 8
	}
	for i, r := range rows {
		mustAppend(t, s, entry(i, r.entity, r.etype, r.actor, r.event))
	}
	tests := []struct {
		name string
		f    audit.Filter
		want []int64
	}{
		{"no filter", audit.Filter{}, []int64{8, 7, 6, 5, 4, 3, 2, 1}},
		{"entity id", audit.Filter{EntityID: "CUST-1"}, []int64{8, 5, 3, 1}},
		{"entity type", audit.Filter{EntityType: "followup"}, []int64{7, 4}},
		{"actor", audit.Filter{ActorID: "u-1"}, []int64{7, 6, 3, 1}},
		{"event type", audit.Filter{EventType: "customer.created"}, []int64{2, 1}},
		{"start inclusive", audit.Filter{Start: base.Add(5 * time.Minute)}, []int64{8, 7, 6}},
		{"end exclusive", audit.Filter{End: base.Add(2 * time.Minute)}, []int64{2, 1}},
		{"start rounds up", audit.Filter{Start: base.Add(5*time.Minute + time.Nanosecond)}, []int64{8, 7}},
		{"time range", audit.Filter{Start: base.Add(2 * time.Minute), End: base.Add(5 * time.Minute)}, []int64{5, 4, 3}},
		{"combined", audit.Filter{EntityID: "CUST-1", ActorID: "u-1", EventType: "customer.updated"}, []int64{3}},
		{"entity and time", audit.Filter{EntityID: "CUST-1", Start: base.Add(time.Minute), End: base.Add(7 * time.Minute)}, []int64{5, 3}},
		{"nothing matches", audit.Filter{EntityID: "CUST-9"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := s.List(t.Context(), tt.f, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := sequences(recs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("List = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListPagesBySequence(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	for i := range 7 {
		entity := "CUST-1"
		if i%2 == 1 {
			entity = "CUST-2"
		}
		mustAppend(t, s, entry(i, entity, "customer", "u-1", "customer.updated"))
	}
	tests := []struct {
		name  string
		f     audit.Filter
		limit int
		want  [][]int64
	}{
		{"all by 3", audit.Filter{}, 3, [][]int64{{7, 6, 5}, {4, 3, 2}, {1}}},
		{"all by 7", audit.Filter{}, 7, [][]int64{{7, 6, 5, 4, 3, 2, 1}}},
		{"filtered by 2", audit.Filter{EntityID: "CUST-1"}, 2, [][]int64{{7, 5}, {3, 1}}},
		{"filtered by 1", audit.Filter{EntityID: "CUST-2"}, 1, [][]int64{{6}, {4}, {2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var pages [][]int64
			var before int64
			for range 10 {
				recs, err := s.List(t.Context(), tt.f, before, tt.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) == 0 {
					break
				}
				pages = append(pages, sequences(recs))
				before = recs[len(recs)-1].Sequence
			}
			if !reflect.DeepEqual(pages, tt.want) {
				t.Errorf("pages = %v, want %v", pages, tt.want)
			}
		})
	}
}

func TestAuditEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	s, pool, _ := newStore(t)
	mustAppend(t, s, entry(1, "CUST-1", "customer", "u-1", "customer.updated"))
	for _, stmt := range []string{
		"UPDATE audit_events SET actor_id = 'someone-else' WHERE sequence = 1",
		"UPDATE audit_events SET actor_id = 'x' WHERE sequence = 999",
		"DELETE FROM audit_events WHERE sequence = 1",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
	} {
		_, err := pool.Exec(t.Context(), stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s: error = %v, want SQLSTATE 42501 from the append-only trigger", stmt, err)
		}
	}
	v, err := s.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || v.Checked != 1 {
		t.Fatalf("after refused changes Verify = %+v, want OK with 1 record", v)
	}
}

// tamper runs stmt with the append-only trigger disabled, as a superuser could.
func tamper(t *testing.T, pool *pgxpool.Pool, stmt string, args ...any) {
	t.Helper()
	err := pgdb.InTx(t.Context(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "ALTER TABLE audit_events DISABLE TRIGGER ALL"); err != nil {
			return err
		}
		tag, err := tx.Exec(t.Context(), stmt, args...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%s changed %d rows, want 1", stmt, tag.RowsAffected())
		}
		_, err = tx.Exec(t.Context(), "ALTER TABLE audit_events ENABLE TRIGGER ALL")
		return err
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		stmt       string
		wantBroken int64
		wantReason string
	}{
		{"actor changed", "UPDATE audit_events SET actor_id = 'u-9' WHERE sequence = 3", 3, audit.ReasonHashMismatch},
		{"changes altered", "UPDATE audit_events SET changes = '\\x00'::bytea WHERE sequence = 2", 2, audit.ReasonHashMismatch},
		{"event time moved", "UPDATE audit_events SET event_time = event_time + interval '1 second' WHERE sequence = 4", 4, audit.ReasonHashMismatch},
		{"prev hash rewritten", "UPDATE audit_events SET prev_hash = repeat('0', 64) WHERE sequence = 2", 2, audit.ReasonPrevHashMismatch},
		{"row deleted", "DELETE FROM audit_events WHERE sequence = 3", 4, audit.ReasonSequenceGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, pool, _ := newStore(t)
			for i := range 5 {
				mustAppend(t, s, entry(i, "CUST-1", "customer", "u-1", "customer.updated"))
			}
			tamper(t, pool, tt.stmt)
			v, err := s.Verify(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || v.FirstBrokenSequence != tt.wantBroken || v.Reason != tt.wantReason {
				t.Fatalf("Verify = %+v, want broken at %d with %s", v, tt.wantBroken, tt.wantReason)
			}
		})
	}
}

// TestVerifyReadsInChunks checks a chain longer than one read chunk, tampered in a later chunk.
func TestVerifyReadsInChunks(t *testing.T) {
	t.Parallel()
	s, pool, _ := newStore(t)
	const n = 2*verifyChunk + 345
	// Build a valid chain in memory and COPY it in: n single appends would be slow.
	var rows [][]any
	prev := audit.Link{}
	for i := range n {
		r := audit.Chain(prev, entry(i, fmt.Sprintf("CUST-%d", i%50), "customer", "u-1", "customer.updated"))
		rows = append(rows, []any{r.Sequence, r.EventID, r.EventType, r.Source, r.EntityType, r.EntityID, r.EventTime,
			r.Actor.UserID, r.Actor.Role, r.Actor.TeamID, r.Changes, r.TraceID, r.PrevHash, r.Hash})
		prev = r.Head()
	}
	_, err := pool.CopyFrom(t.Context(), pgx.Identifier{"audit_events"},
		[]string{"sequence", "event_id", "event_type", "source", "entity_type", "entity_id", "event_time",
			"actor_id", "actor_role", "actor_team", "changes", "trace_id", "prev_hash", "hash"},
		pgx.CopyFromRows(rows))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (audit.Verification{OK: true, Checked: n}); v != want {
		t.Fatalf("Verify = %+v, want %+v", v, want)
	}
	// The next append continues the copied chain.
	r := mustAppend(t, s, entry(n, "CUST-1", "customer", "u-1", "customer.updated"))
	if r.Sequence != n+1 || r.PrevHash != prev.Hash {
		t.Fatalf("append after copy: sequence %d prev %s, want %d %s", r.Sequence, r.PrevHash, n+1, prev.Hash)
	}

	const victim = verifyChunk + 500
	tamper(t, pool, "UPDATE audit_events SET entity_id = 'CUST-X' WHERE sequence = $1", victim)
	v, err = s.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (audit.Verification{Checked: victim, FirstBrokenSequence: victim, Reason: audit.ReasonHashMismatch}); v != want {
		t.Fatalf("Verify = %+v, want %+v", v, want)
	}
}

func TestAddDeadLetter(t *testing.T) {
	t.Parallel()
	s, pool, _ := newStore(t)
	d := DeadLetter{
		StreamSeq: 42,
		Subject:   "crm.customer.customer.updated",
		MsgID:     "0193a5e4-7c2f-7d1a-9b3c-1f2e3d4c5b6a",
		Headers:   map[string][]string{"Nats-Msg-Id": {"0193a5e4-7c2f-7d1a-9b3c-1f2e3d4c5b6a"}, "Bad\x00": {"\xff"}},
		Data:      []byte{0, 1, 2},
		Reason:    "max deliveries",
	}
	for range 2 {
		if err := s.AddDeadLetter(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	var (
		n      int
		reason string
		data   []byte
	)
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM dead_letters").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(t.Context(), "SELECT reason, data FROM dead_letters WHERE stream_seq = 42").Scan(&reason, &data); err != nil {
		t.Fatal(err)
	}
	if n != 1 || reason != d.Reason || string(data) != string(d.Data) {
		t.Fatalf("dead letters: %d rows, reason %q, data %v; want 1, %q, %v", n, reason, data, d.Reason, d.Data)
	}
	if err := s.AddDeadLetter(t.Context(), DeadLetter{StreamSeq: 43}); err != nil {
		t.Fatalf("dead letter without headers or data: %v", err)
	}
}

func sequences(rs []audit.Record) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.Sequence)
	}
	return out
}

func TestAppendBatchChainsSkipsDuplicatesAndVerifies(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := context.Background()
	e1, e2, e3, e4 := entry(1, "CUST-1", "customer", "u-1", "customer.created"), entry(2, "CUST-1", "customer", "u-1", "customer.updated"),
		entry(3, "CUST-2", "customer", "u-2", "customer.created"), entry(4, "CUST-2", "customer", "u-2", "customer.updated")
	first := mustAppend(t, s, e1)
	batch := []audit.Entry{e1 /* already recorded */, e2, e3, e3 /* repeated within the batch */, e4}
	n, err := s.AppendBatch(ctx, batch)
	if err != nil || n != 3 {
		t.Fatalf("AppendBatch = %d, %v; want 3 new", n, err)
	}
	if n, err := s.AppendBatch(ctx, batch); err != nil || n != 0 {
		t.Fatalf("AppendBatch again = %d, %v; want 0", n, err)
	}
	recs, err := s.List(ctx, audit.Filter{}, 0, 10)
	if err != nil || len(recs) != 4 {
		t.Fatalf("List = %d records, %v; want 4", len(recs), err)
	}
	if recs[3].EventID != first.EventID || recs[0].Sequence != 4 || recs[0].EventID != batch[4].EventID {
		t.Fatalf("records out of order: %+v", recs)
	}
	v, err := s.Verify(ctx)
	if err != nil || !v.OK || v.Checked != 4 {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

// TestAppendLooksUpEventsByIndexAfterTheTableGrew: the look-up of already recorded events must
// use the event id's index however small the table was when the connection first ran it. A
// prepared statement's generic plan, chosen after five runs on a nearly empty table (a new
// deployment, or the benchmark's), was a sequential scan, and it stayed one as the table grew:
// 3 ms a batch at 20,000 records, growing with every record, until an ANALYZE happened to
// invalidate it.
func TestAppendLooksUpEventsByIndexAfterTheTableGrew(t *testing.T) {
	t.Parallel()
	// One backend: its plan cache is the one that counts.
	pool, err := pgdb.ConnectOne(t.Context(), testkit.NewDatabase(t), Schema, "audit-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	s := New(pool)
	ctx := t.Context()
	// No ANALYZE behind the test's back: it would replace the cached plan.
	if _, err := pool.Exec(ctx, `ALTER TABLE audit_events SET (autovacuum_enabled = off)`); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		batch := make([]audit.Entry, 20)
		for j := range batch {
			batch[j] = entry(i*20+j, "CUST-1", "customer", "u-1", "customer.created")
		}
		if _, err := s.AppendBatch(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO audit_events (sequence, event_id, event_type, source, entity_type, entity_id,
			event_time, actor_id, actor_role, actor_team, changes, trace_id, prev_hash, hash)
		SELECT 1000 + i, gen_random_uuid(), 'customer.created', 'customer', 'customer', 'CUST-' || i, now(), 'u-1', 'sales', 'east',
			'\x0102', '', repeat('0', 64), repeat('0', 64) FROM generate_series(1, 20000) i`); err != nil {
		t.Fatal(err)
	}
	before := testkit.ReadsOf(t, pool, "audit_events").SeqScans
	if n, err := s.AppendBatch(ctx, []audit.Entry{entry(9, "CUST-2", "customer", "u-1", "customer.created")}); err != nil || n != 1 {
		t.Fatalf("AppendBatch = %d, %v", n, err)
	}
	if after := testkit.ReadsOf(t, pool, "audit_events").SeqScans; after != before {
		t.Errorf("the append scanned audit_events sequentially %d times, want 0: the look-up must use the index", after-before)
	}
}
