// Package store keeps the audit log in PostgreSQL (schema "audit"): appending records to the hash
// chain in order and exactly once per event, listing them keyset-paged, streaming them for
// verification, and the dead letters of the event consumer. Its migrations are embedded.
//
// It speaks plain SQL through pgx and must not import gRPC or NATS; the chain rules come from
// internal/audit.
package store

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/services/audit/internal/audit"
)

// Schema is the PostgreSQL schema the audit service owns.
const Schema = "audit"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the embedded migrations to Schema (safe to run from several replicas at once).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if err := pgdb.Migrate(ctx, pool, Schema, "audit", sub); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// appendLockKey is the transaction advisory lock that serialises appends across all replicas of
// the audit service, so that each reads the true tail of the chain. It differs from pgdb's
// migration lock keys, which are FNV hashes of "crm/pgdb.Migrate:<schema>".
const appendLockKey int64 = 0x6372_6d2e_6175_6474 // "crm.audt"

// verifyChunk is how many rows Records reads per query.
const verifyChunk = 1000

// Store reads and writes the audit log. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool, whose connections must have Schema on their search_path
// (pgdb.Connect does that).
func New(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool}
}

// columns are the audit_events columns in the order scanRecord reads them.
const columns = `sequence, event_id::text, event_type, source, entity_type, entity_id, event_time,
	actor_id, actor_role, actor_team, changes, trace_id, record_time, prev_hash, hash`

func scanRecord(row pgx.CollectableRow) (audit.Record, error) {
	var r audit.Record
	err := row.Scan(&r.Sequence, &r.EventID, &r.EventType, &r.Source, &r.EntityType, &r.EntityID, &r.EventTime,
		&r.Actor.UserID, &r.Actor.Role, &r.Actor.TeamID, &r.Changes, &r.TraceID, &r.RecordTime, &r.PrevHash, &r.Hash)
	r.EventTime = r.EventTime.UTC()
	r.RecordTime = r.RecordTime.UTC()
	return r, err
}

// Append records e as the next link of the chain and returns the stored record. When a record of
// the same event id exists already it changes nothing and returns that record with duplicate
// true, so that a redelivered event is recorded once.
func (s *Store) Append(ctx context.Context, e audit.Entry) (rec audit.Record, duplicate bool, err error) {
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// Held until commit: every replica's appends, and their reads of the tail, take turns.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLockKey); err != nil {
			return fmt.Errorf("lock chain: %w", err)
		}
		rows, err := tx.Query(ctx, "SELECT "+columns+" FROM audit_events WHERE event_id = $1", e.EventID)
		if err != nil {
			return fmt.Errorf("look up event: %w", err)
		}
		existing, err := pgx.CollectRows(rows, scanRecord)
		if err != nil {
			return fmt.Errorf("look up event: %w", err)
		}
		if len(existing) > 0 {
			rec, duplicate = existing[0], true
			return nil
		}

		var tail audit.Link
		err = tx.QueryRow(ctx, "SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1").
			Scan(&tail.Sequence, &tail.Hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read chain tail: %w", err)
		}

		rec = audit.Chain(tail, e)
		err = tx.QueryRow(ctx, `INSERT INTO audit_events (sequence, event_id, event_type, source, entity_type,
			entity_id, event_time, actor_id, actor_role, actor_team, changes, trace_id, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			RETURNING record_time`,
			rec.Sequence, rec.EventID, rec.EventType, rec.Source, rec.EntityType, rec.EntityID, rec.EventTime,
			rec.Actor.UserID, rec.Actor.Role, rec.Actor.TeamID, nonNil(rec.Changes), rec.TraceID, rec.PrevHash, rec.Hash,
		).Scan(&rec.RecordTime)
		if err != nil {
			return fmt.Errorf("insert record: %w", err)
		}
		rec.RecordTime = rec.RecordTime.UTC()
		return nil
	})
	if err != nil {
		return audit.Record{}, false, fmt.Errorf("store: append event %s: %w", e.EventID, err)
	}
	return rec, duplicate, nil
}

// AppendBatch records entries, in order, as the next links of the chain in one transaction (one
// lock, one look-up of the tail, one insert), skipping entries whose event is already recorded
// (redelivered) or repeated within the batch. It returns how many it added.
//
// The transaction takes two round trips (pgdb.InBatchTx): BEGIN, the lock and both look-ups go
// as one batch, the insert and COMMIT as a second (statement by statement it was seven, and on a
// machine where every round trip costs tens of microseconds of system time on both sides, round
// trips were most of an append's cost). The look-ups still run under the lock.
func (s *Store) AppendBatch(ctx context.Context, es []audit.Entry) (int, error) {
	if len(es) == 0 {
		return 0, nil
	}
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.EventID
	}
	var recs []audit.Record
	err := pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		b := pgdb.TxBatch()
		// Held until commit: every replica's appends, and their reads of the tail, take turns.
		b.Queue("SELECT pg_advisory_xact_lock($1)", appendLockKey)
		// The look-up is planned for its arguments every time: a generic plan, which PostgreSQL
		// adopts for a prepared statement after five runs, is a sequential scan when chosen on a
		// nearly empty table (a new deployment) and stays one as the table grows, until an
		// ANALYZE happens to replace it (3 ms a batch at 20,000 records, and growing).
		b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
		b.Queue("SELECT event_id::text FROM audit_events WHERE event_id = ANY($1::uuid[])", ids)
		b.Queue("SET LOCAL plan_cache_mode = DEFAULT")
		b.Queue("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")
		var known []string
		var tail audit.Link
		if err := pgdb.SendBatch(ctx, conn, b, func(br pgx.BatchResults) (err error) {
			known, tail, err = readAppendChecks(br)
			return err
		}); err != nil {
			return err
		}

		seen := make(map[string]bool, len(es))
		for _, id := range known {
			seen[id] = true
		}
		for _, e := range es {
			if seen[e.EventID] {
				continue
			}
			seen[e.EventID] = true
			rec := audit.Chain(tail, e)
			tail = rec.Head()
			recs = append(recs, rec)
		}

		b = &pgx.Batch{}
		if len(recs) > 0 {
			queueInsert(b, recs)
		}
		var steps []string
		if len(recs) > 0 {
			steps = append(steps, "insert records")
		}
		return pgdb.SendCommit(ctx, conn, b, steps...)
	})
	if err != nil {
		return 0, fmt.Errorf("store: append %d events: %w", len(es), err)
	}
	return len(recs), nil
}

// readAppendChecks reads the results of AppendBatch's first pipeline: BEGIN, the lock, the
// events already recorded and the chain's tail (the zero Link for an empty chain).
func readAppendChecks(br pgx.BatchResults) (known []string, tail audit.Link, err error) {
	if _, err := br.Exec(); err != nil {
		return nil, tail, fmt.Errorf("begin: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, tail, fmt.Errorf("lock chain: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, tail, fmt.Errorf("plan look-up: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, tail, fmt.Errorf("look up events: %w", err)
	}
	if known, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return nil, tail, fmt.Errorf("look up events: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return nil, tail, fmt.Errorf("plan look-up: %w", err)
	}
	err = br.QueryRow().Scan(&tail.Sequence, &tail.Hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, tail, fmt.Errorf("read chain tail: %w", err)
	}
	return known, tail, nil
}

// queueInsert queues the insert of recs as one statement over arrays of their columns.
func queueInsert(b *pgx.Batch, recs []audit.Record) {
	n := len(recs)
	seqs := make([]int64, n)
	eventIDs, types, sources, entityTypes, entityIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	actors, roles, teams, traces, prevs, hashes := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	changes := make([][]byte, n)
	for i, r := range recs {
		seqs[i], eventIDs[i], types[i], sources[i], entityTypes[i], entityIDs[i] = r.Sequence, r.EventID, r.EventType, r.Source, r.EntityType, r.EntityID
		times[i], actors[i], roles[i], teams[i] = r.EventTime, r.Actor.UserID, r.Actor.Role, r.Actor.TeamID
		changes[i], traces[i], prevs[i], hashes[i] = nonNil(r.Changes), r.TraceID, r.PrevHash, r.Hash
	}
	b.Queue(`INSERT INTO audit_events (sequence, event_id, event_type, source, entity_type, entity_id, event_time,
		actor_id, actor_role, actor_team, changes, trace_id, prev_hash, hash)
		SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
			$8::text[], $9::text[], $10::text[], $11::bytea[], $12::text[], $13::text[], $14::text[])`,
		seqs, eventIDs, types, sources, entityTypes, entityIDs, times, actors, roles, teams, changes, traces, prevs, hashes)
}

// nonNil keeps an empty change list from being sent as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// List returns at most limit records matching f with a sequence below before (0: from the newest),
// newest first.
func (s *Store) List(ctx context.Context, f audit.Filter, before int64, limit int) ([]audit.Record, error) {
	f = f.Normal()
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if before > 0 {
		add("sequence < $%d", before)
	}
	if f.EntityID != "" {
		add("entity_id = $%d", f.EntityID)
	}
	if f.EntityType != "" {
		add("entity_type = $%d", f.EntityType)
	}
	if f.ActorID != "" {
		add("actor_id = $%d", f.ActorID)
	}
	if f.EventType != "" {
		add("event_type = $%d", f.EventType)
	}
	if !f.Start.IsZero() {
		add("event_time >= $%d", f.Start)
	}
	if !f.End.IsZero() {
		add("event_time < $%d", f.End)
	}
	q := "SELECT " + columns + " FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY sequence DESC LIMIT $%d", len(args))

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	recs, err := pgx.CollectRows(rows, scanRecord)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	return recs, nil
}

// Records yields every record in sequence order, reading verifyChunk rows per query so that the
// log never has to fit in memory. The log is append-only, so rows appended during the walk are
// simply seen at its end.
func (s *Store) Records(ctx context.Context) iter.Seq2[audit.Record, error] {
	return func(yield func(audit.Record, error) bool) {
		var after int64
		for {
			rows, err := s.pool.Query(ctx, "SELECT "+columns+
				" FROM audit_events WHERE sequence > $1 ORDER BY sequence LIMIT $2", after, verifyChunk)
			if err != nil {
				yield(audit.Record{}, fmt.Errorf("store: read records after %d: %w", after, err))
				return
			}
			chunk, err := pgx.CollectRows(rows, scanRecord)
			if err != nil {
				yield(audit.Record{}, fmt.Errorf("store: read records after %d: %w", after, err))
				return
			}
			for _, r := range chunk {
				if !yield(r, nil) {
					return
				}
			}
			if len(chunk) < verifyChunk {
				return
			}
			after = chunk[len(chunk)-1].Sequence
		}
	}
}

// Verify checks the whole chain (see audit.Verify).
func (s *Store) Verify(ctx context.Context) (audit.Verification, error) {
	return audit.Verify(s.Records(ctx))
}

// DeadLetter is a stream message the consumer gave up on.
type DeadLetter struct {
	StreamSeq uint64
	Subject   string
	// MsgID is the Nats-Msg-Id header, the event id for well-formed events.
	MsgID   string
	Headers map[string][]string
	Data    []byte
	Reason  string
}

// AddDeadLetter keeps d for an operator. Adding the same stream message again changes nothing.
func (s *Store) AddDeadLetter(ctx context.Context, d DeadLetter) error {
	headers := make(map[string][]string, len(d.Headers))
	for k, vs := range d.Headers {
		cleaned := make([]string, len(vs))
		for i, v := range vs {
			cleaned[i] = clean(v)
		}
		headers[clean(k)] = cleaned
	}
	h, err := json.Marshal(headers)
	if err != nil {
		return fmt.Errorf("store: dead letter %d: encode headers: %w", d.StreamSeq, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO dead_letters (stream_seq, subject, msg_id, headers, data, reason)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream_seq) DO NOTHING`,
		int64(d.StreamSeq), clean(d.Subject), clean(d.MsgID), h, nonNil(d.Data), clean(d.Reason))
	if err != nil {
		return fmt.Errorf("store: dead letter %d: %w", d.StreamSeq, err)
	}
	return nil
}

// clean makes s storable as PostgreSQL text (and jsonb): valid UTF-8 without NUL. A dead letter
// is often a malformed message, and it must not be lost for its bytes.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
