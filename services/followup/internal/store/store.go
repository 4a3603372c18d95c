// Package store keeps follow-up records in PostgreSQL (schema "followup"): plain SQL through pgx,
// every change in one transaction together with its change event in the outbox, optimistic
// concurrency on the version column, and keyset-paged lists. Every read joins customer_refs, the
// local projection of customers, and puts the caller's reach (the customer's owner or team) in the
// WHERE clause, so that nobody sees a record of a customer they may not see.
//
// It must not import the gRPC server or the API's transport types other than to build event data.
package store

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/ids"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	followupv1 "github.com/crmsuite/crm/proto/gen/go/crm/followup/v1"
	"github.com/crmsuite/crm/services/followup/internal/followup"
)

// Schema is the PostgreSQL schema the follow-up service owns.
const Schema = "followup"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the follow-up service's migrations and those of the packages it uses.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	own, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for _, m := range []struct {
		set  string
		fsys fs.FS
	}{{"followup", own}, {"outbox", outbox.Migrations}, {"ids", ids.Migrations}, {"customerref", customerref.Migrations}} {
		if err := pgdb.Migrate(ctx, pool, Schema, m.set, m.fsys); err != nil {
			return err
		}
	}
	return nil
}

// Actor is who makes a change.
type Actor struct {
	UserID, Role, TeamID string
}

func (a Actor) proto() *commonv1.Actor {
	return &commonv1.Actor{UserId: a.UserID, Role: a.Role, TeamId: a.TeamID}
}

// Reach limits which records a query may touch, by their customer: one owner's customers, one
// team's, or (both empty) all. Records of deleted customers are out of reach unless
// DeletedCustomers is set (admins).
type Reach struct {
	OwnerID          string
	TeamID           string
	DeletedCustomers bool
}

// where appends the reach's parameters to args and returns its condition on customer_refs r.
func (r Reach) where(args *[]any) string {
	var conds []string
	switch {
	case r.OwnerID != "":
		*args = append(*args, r.OwnerID)
		conds = append(conds, fmt.Sprintf("r.owner_id = $%d", len(*args)))
	case r.TeamID != "":
		*args = append(*args, r.TeamID)
		conds = append(conds, fmt.Sprintf("r.team_id = $%d", len(*args)))
	}
	if !r.DeletedCustomers {
		conds = append(conds, "NOT r.deleted")
	}
	if len(conds) == 0 {
		return "true"
	}
	return strings.Join(conds, " AND ")
}

// Store reads and writes follow-up records.
type Store struct {
	pool *pgxpool.Pool
	ids  *ids.Allocator
	// eventData renders a record as the event's data (the API's FollowUp message).
	eventData func(*followup.FollowUp) proto.Message
	now       func() time.Time
}

// New returns a store. eventData renders a record for the `data` of its change events.
func New(pool *pgxpool.Pool, eventData func(*followup.FollowUp) proto.Message) *Store {
	return &Store{
		pool:      pool,
		ids:       ids.NewAllocator(pool, "F", ids.CompactFormat("F"), 100),
		eventData: eventData,
		now:       func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
}

// tableColumns are the stored columns, in the order of values.
const tableColumns = `id, customer_id, contact_name, method, contact_time, kind, content, next_action,
	next_action_due, owner_id, done, done_at, done_by, competitor_notes, created_at, created_by,
	updated_at, updated_by, deleted_at, deleted_by, version`

// selectColumns are the columns read: the record and, from the projection, its customer's team
// and whether the customer is deleted.
var selectColumns = qualify("f", tableColumns) + ", r.team_id, r.deleted"

// qualify prefixes each of a comma-separated list of columns with a table alias.
func qualify(alias, cols string) string {
	names := strings.Split(cols, ",")
	for i, n := range names {
		names[i] = alias + "." + strings.TrimSpace(n)
	}
	return strings.Join(names, ", ")
}

// from joins each record to its customer's projection row.
const from = `followups f JOIN customer_refs r ON r.customer_id = f.customer_id`

func scan(row pgx.Row) (*followup.FollowUp, error) {
	var f followup.FollowUp
	var method, kind string
	var due *time.Time
	err := row.Scan(&f.ID, &f.CustomerID, &f.ContactName, &method, &f.ContactTime, &kind, &f.Content, &f.NextAction,
		&due, &f.OwnerID, &f.Done, &f.DoneAt, &f.DoneBy, &f.CompetitorNotes, &f.CreatedAt, &f.CreatedBy,
		&f.UpdatedAt, &f.UpdatedBy, &f.DeletedAt, &f.DeletedBy, &f.Version, &f.TeamID, &f.CustomerDeleted)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, followup.ErrNotFound
		}
		return nil, err
	}
	f.Method, f.Kind = followup.Method(method), followup.Kind(kind)
	if due != nil {
		f.NextActionDue = &followup.Date{Year: due.Year(), Month: due.Month(), Day: due.Day()}
	}
	return &f, nil
}

// values returns the record's column values in the order of tableColumns.
func values(f *followup.FollowUp) []any {
	var due *time.Time
	if f.NextActionDue != nil {
		t := f.NextActionDue.Time()
		due = &t
	}
	return []any{f.ID, f.CustomerID, f.ContactName, string(f.Method), f.ContactTime, string(f.Kind), f.Content, f.NextAction,
		due, f.OwnerID, f.Done, f.DoneAt, f.DoneBy, f.CompetitorNotes, f.CreatedAt, f.CreatedBy,
		f.UpdatedAt, f.UpdatedBy, f.DeletedAt, f.DeletedBy, f.Version}
}

// CreateInput carries what a create needs besides the record.
type CreateInput struct {
	// RequestID makes the create idempotent per caller; empty disables that.
	RequestID string
	// RequestHash fingerprints the request, so a reused id with other content is refused.
	RequestHash []byte
}

// Create stores a new, validated record and its `followup.created` event. The caller has checked
// the customer (live, visible) and set f.TeamID from it. A repeated request id returns the record
// the first request created.
func (s *Store) Create(ctx context.Context, f *followup.FollowUp, in CreateInput, actor Actor) (*followup.FollowUp, error) {
	// The id comes from a block reserved outside this transaction, so concurrent creates do not
	// queue on a counter row; a rolled-back create leaves a gap, never a duplicate.
	id, err := s.ids.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate id: %w", err)
	}
	now := s.now()
	f.ID = id
	f.CreatedAt, f.UpdatedAt = now, now
	f.CreatedBy, f.UpdatedBy = actor.UserID, actor.UserID
	f.Version = 1

	ev, err := s.event(ctx, "created", nil, f, actor)
	if err != nil {
		return nil, err
	}
	// Two round trips: BEGIN, the request id's claim, the record, its event and the customer's
	// latest contact time (lastFollowUp) as one batch; that time's event, when it moved, and
	// COMMIT as a second. The claim has no ON CONFLICT: a request id an earlier request holds fails
	// it (once that request has committed, if it is still in flight), the server skips the rest of
	// the batch, and the transaction rolls back having written nothing.
	err = pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		b, steps := pgdb.TxBatch(), []string{"begin"}
		if in.RequestID != "" {
			b.Queue(`INSERT INTO create_requests (created_by, request_id, request_hash, followup_id) VALUES ($1, $2, $3, $4)`,
				actor.UserID, in.RequestID, in.RequestHash, id)
			steps = append(steps, "claim request id")
		}
		b.Queue(`INSERT INTO followups (`+tableColumns+`) VALUES (`+placeholders(21)+`)`, values(f)...)
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		steps = append(steps, "insert follow-up", "outbox: add event "+ev.GetId())
		return s.commitWithLastFollowUp(ctx, conn, b, steps, f.CustomerID, actor)
	})
	if name, ok := pgdb.UniqueViolation(err); ok && name == "create_requests_pkey" {
		return s.priorRequest(ctx, actor.UserID, in)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// priorRequest returns the record that the earlier request with in's request id created, as it
// is now (it may have been changed or deleted since), or followup.ErrRequestUsed if that request
// had other content.
func (s *Store) priorRequest(ctx context.Context, userID string, in CreateInput) (*followup.FollowUp, error) {
	var hash []byte
	var prior string
	if err := s.pool.QueryRow(ctx, `SELECT request_hash, followup_id FROM create_requests WHERE created_by = $1 AND request_id = $2`,
		userID, in.RequestID).Scan(&hash, &prior); err != nil {
		return nil, fmt.Errorf("read request id: %w", err)
	}
	if !bytes.Equal(hash, in.RequestHash) {
		return nil, followup.ErrRequestUsed
	}
	return scan(s.pool.QueryRow(ctx, `SELECT `+selectColumns+` FROM `+from+` WHERE f.id = $1`, prior))
}

func placeholders(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

// event builds the change event of one record.
func (s *Store) event(ctx context.Context, action string, before, after *followup.FollowUp, actor Actor) (*eventsv1.Event, error) {
	var changes []*commonv1.FieldChange
	for _, ch := range followup.Diff(before, after) {
		fc, err := events.Change(ch.Field, ch.Before, ch.After)
		if err != nil {
			return nil, fmt.Errorf("event change %s: %w", ch.Field, err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(ctx, Schema, "followup", action, after.ID, actor.proto(), after.Version, s.eventData(after), changes)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return ev, nil
}

// Get returns one live (not deleted) record within reach.
func (s *Store) Get(ctx context.Context, id string, reach Reach) (*followup.FollowUp, error) {
	args := []any{id}
	q := `SELECT ` + selectColumns + ` FROM ` + from + ` WHERE f.id = $1 AND f.deleted_at IS NULL AND ` + reach.where(&args)
	return scan(s.pool.QueryRow(ctx, q, args...))
}

// UpdateInput describes one read-modify-write of a record.
type UpdateInput struct {
	ID    string
	Reach Reach
	// Version, when not zero, must equal the stored version (the etag).
	Version int64
	// Action names the event: updated, completed, deleted.
	Action string
	// Apply changes the loaded record; an error aborts the update.
	Apply func(f *followup.FollowUp, now time.Time) error
}

// Update loads the live record FOR UPDATE within reach, checks its version, applies the change,
// saves it with the next version and writes its event, all in one transaction. A change that
// changes nothing is not saved and publishes nothing.
func (s *Store) Update(ctx context.Context, in UpdateInput, actor Actor) (*followup.FollowUp, error) {
	var out *followup.FollowUp
	// Two round trips: BEGIN and the locking read as one batch, the update, its event and COMMIT
	// as a second.
	err := pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		args := []any{in.ID}
		q := `SELECT ` + selectColumns + ` FROM ` + from + ` WHERE f.id = $1 AND f.deleted_at IS NULL AND ` +
			in.Reach.where(&args) + ` FOR UPDATE OF f`
		var f *followup.FollowUp
		if err := pgdb.BeginQueryRow(ctx, conn, q, args, func(row pgx.Row) (err error) {
			f, err = scan(row)
			return err
		}); err != nil {
			return err
		}
		if in.Version != 0 && in.Version != f.Version {
			return followup.ErrStaleEtag
		}
		before := *f
		now := s.now()
		if err := in.Apply(f, now); err != nil {
			return err
		}
		if len(followup.Diff(&before, f)) == 0 {
			out = &before
			return nil // InBatchTx rolls the transaction back: nothing was written
		}
		f.Version = before.Version + 1
		f.UpdatedAt, f.UpdatedBy = now, actor.UserID
		ev, err := s.event(ctx, in.Action, &before, f, actor)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE followups SET `+updateSet+` WHERE id = $1`, values(f)...)
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		steps := []string{"update follow-up", "outbox: add event " + ev.GetId()}
		if f.ContactTime.Equal(before.ContactTime) && (f.DeletedAt == nil) == (before.DeletedAt == nil) {
			err = pgdb.SendCommit(ctx, conn, b, steps...)
		} else {
			// The customer's latest contact time may have moved: a third round trip.
			err = s.commitWithLastFollowUp(ctx, conn, b, steps, f.CustomerID, actor)
		}
		if err != nil {
			return err
		}
		out = f
		return nil
	})
	return out, err
}

// commitWithLastFollowUp sends b (whose results are the steps) with the look-up of the customer's
// latest contact time after b's change, then commits, together with a
// customer_last_followup.changed event when that time moved. The customer's row in
// customer_last_followup is locked before the time is read, so that concurrent changes of one
// customer's records take turns: each reads the others' committed changes and publishes the next
// version, and the last version published holds the time of the last commit.
func (s *Store) commitWithLastFollowUp(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, steps []string, customerID string, actor Actor) error {
	b.Queue(`INSERT INTO customer_last_followup AS l (customer_id, contact_time, version) VALUES ($1, NULL, 0)
		ON CONFLICT (customer_id) DO UPDATE SET version = l.version RETURNING l.contact_time, l.version`, customerID)
	b.Queue(`SELECT max(contact_time) FROM followups WHERE customer_id = $1 AND deleted_at IS NULL`, customerID)
	var held, latest *time.Time
	var version int64
	if err := pgdb.SendBatch(ctx, conn, b, func(br pgx.BatchResults) error {
		for _, step := range steps {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
		}
		if err := br.QueryRow().Scan(&held, &version); err != nil {
			return fmt.Errorf("lock the customer's last follow-up: %w", err)
		}
		if err := br.QueryRow().Scan(&latest); err != nil {
			return fmt.Errorf("read the customer's last follow-up: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}
	b = &pgx.Batch{}
	var final []string
	if !sameTime(held, latest) {
		version++
		data := &followupv1.CustomerLastFollowUp{CustomerId: customerID}
		if latest != nil {
			data.ContactTime = timestamppb.New(*latest)
		}
		change, err := events.Change("contact_time", held, latest)
		if err != nil {
			return fmt.Errorf("event change contact_time: %w", err)
		}
		ev, err := events.New(ctx, Schema, "customer_last_followup", "changed", customerID, actor.proto(), version, data,
			[]*commonv1.FieldChange{change})
		if err != nil {
			return fmt.Errorf("build event: %w", err)
		}
		b.Queue(`UPDATE customer_last_followup SET contact_time = $2, version = $3 WHERE customer_id = $1`, customerID, latest, version)
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		final = []string{"update the customer's last follow-up", "outbox: add event " + ev.GetId()}
	}
	return pgdb.SendCommit(ctx, conn, b, final...)
}

// sameTime reports whether two optional times are both unset or the same instant.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// updateSet is the SET list of Update: every column of tableColumns from $1 in order.
var updateSet = func() string {
	cols := strings.Split(tableColumns, ",")
	for i, col := range cols {
		cols[i] = fmt.Sprintf("%s = $%d", strings.TrimSpace(col), i+1)
	}
	return strings.Join(cols, ", ")
}()
