// Package store keeps feedback in PostgreSQL (schema "feedback"): plain SQL through pgx, every
// change in one transaction together with its change event in the outbox, optimistic concurrency
// on the version column, and keyset-paged lists. Reads join the customer projection
// (customer_refs, pkg/customerref) and put the caller's reach in the WHERE clause.
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

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/ids"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
)

// Schema is the PostgreSQL schema the feedback service owns.
const Schema = "feedback"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the feedback service's migrations and those of the packages it uses.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	own, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for _, m := range []struct {
		set  string
		fsys fs.FS
	}{{"feedback", own}, {"outbox", outbox.Migrations}, {"ids", ids.Migrations}, {"customerref", customerref.Migrations}} {
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

// Reach limits which feedback a query may touch: that of one owner's customers, of one team's
// customers, or (both empty) all. It is a WHERE clause on the joined customer_refs row, never a
// filter after the fact.
type Reach struct {
	OwnerID string
	TeamID  string
}

// where appends the reach condition to args and returns it as SQL over customer_refs r.
func (r Reach) where(args *[]any) string {
	switch {
	case r.OwnerID != "":
		*args = append(*args, r.OwnerID)
		return fmt.Sprintf("r.owner_id = $%d", len(*args))
	case r.TeamID != "":
		*args = append(*args, r.TeamID)
		return fmt.Sprintf("r.team_id = $%d", len(*args))
	}
	return "true"
}

// Store reads and writes feedback.
type Store struct {
	pool *pgxpool.Pool
	ids  *ids.Allocator
	// eventData renders feedback as the data of its change events, as of now.
	eventData func(f *feedback.Feedback, now time.Time) proto.Message
	now       func() time.Time
}

// New returns a store. eventData renders feedback for the `data` of its change events.
func New(pool *pgxpool.Pool, eventData func(f *feedback.Feedback, now time.Time) proto.Message) *Store {
	return &Store{
		pool:      pool,
		ids:       ids.NewAllocator(pool, "S", ids.CompactFormat("S"), 100),
		eventData: eventData,
		now:       time.Now,
	}
}

// SetClock replaces time.Now, for tests of deadlines. Set it before serving.
func (s *Store) SetClock(now func() time.Time) {
	s.now = now
	s.ids.SetClock(now)
}

// Now is the store's clock in UTC at the database's precision (microseconds). The server uses it
// too, so that times written and deadlines judged come from one clock.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Pool returns the store's connection pool (readiness checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// columns are the stored columns, in the order of values.
const columns = `id, customer_id, type, content, channel, status, status_reason, handler_id, plan, result,
	satisfaction, response_deadline, first_response_at, resolved_at, closed_at, created_at, created_by,
	updated_at, updated_by, deleted_at, deleted_by, delete_reason, version`

// selectColumns reads feedback f with its customer's owner and team from customer_refs r.
var selectColumns = qualify(columns, "f") + ", r.owner_id, r.team_id"

// qualify prefixes each of a comma-separated list of columns with a table alias.
func qualify(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// from is the join every read uses.
const from = ` FROM feedback f JOIN customer_refs r ON r.customer_id = f.customer_id`

func scanFeedback(row pgx.Row) (*feedback.Feedback, error) {
	var f feedback.Feedback
	var typ, channel, status string
	var satisfaction int16
	err := row.Scan(&f.ID, &f.CustomerID, &typ, &f.Content, &channel, &status, &f.StatusReason, &f.HandlerID,
		&f.Plan, &f.Result, &satisfaction, &f.ResponseDeadline, &f.FirstResponseAt, &f.ResolvedAt, &f.ClosedAt,
		&f.CreatedAt, &f.CreatedBy, &f.UpdatedAt, &f.UpdatedBy, &f.DeletedAt, &f.DeletedBy, &f.DeleteReason,
		&f.Version, &f.OwnerID, &f.TeamID)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, feedback.ErrNotFound
		}
		return nil, err
	}
	f.Type, f.Channel, f.Status, f.Satisfaction = feedback.Type(typ), feedback.Channel(channel), feedback.Status(status), int(satisfaction)
	return &f, nil
}

// values returns the feedback's column values in the order of columns.
func values(f *feedback.Feedback) []any {
	return []any{f.ID, f.CustomerID, string(f.Type), f.Content, string(f.Channel), string(f.Status), f.StatusReason,
		f.HandlerID, f.Plan, f.Result, int16(f.Satisfaction), f.ResponseDeadline, f.FirstResponseAt, f.ResolvedAt,
		f.ClosedAt, f.CreatedAt, f.CreatedBy, f.UpdatedAt, f.UpdatedBy, f.DeletedAt, f.DeletedBy, f.DeleteReason, f.Version}
}

// CreateInput carries what a create needs besides the feedback.
type CreateInput struct {
	// RequestID makes the create idempotent per caller; empty disables that.
	RequestID string
	// RequestHash fingerprints the request, so a reused id with other content is refused.
	RequestHash []byte
}

// Create stores new, validated feedback and its `feedback.created` event. The feedback's
// CreatedAt (set by feedback.New) is kept; OwnerID and TeamID should hold the customer's, for the
// event. A repeated request id returns the first result again (feedback.ErrRequestUsed when its
// content differs).
func (s *Store) Create(ctx context.Context, f *feedback.Feedback, in CreateInput, actor Actor) (*feedback.Feedback, error) {
	// The id comes from a block reserved outside this transaction, so concurrent creates do not
	// queue on a counter row; a rolled-back create leaves a gap, never a duplicate.
	id, err := s.ids.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate id: %w", err)
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.Now()
	}
	f.ID = id
	f.UpdatedAt = f.CreatedAt
	f.CreatedBy, f.UpdatedBy = actor.UserID, actor.UserID
	f.Version = 1

	ev, err := s.event(ctx, "created", nil, f, actor)
	if err != nil {
		return nil, err
	}
	// One round trip: BEGIN, the request id's claim, the feedback, its event and COMMIT as one
	// batch. The claim has no ON CONFLICT: a request id an earlier request holds fails it (once
	// that request has committed, if it is still in flight), the server skips the rest of the
	// batch, and the transaction rolls back having written nothing.
	err = pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		b, steps := pgdb.TxBatch(), []string{"begin"}
		if in.RequestID != "" {
			b.Queue(`INSERT INTO create_requests (created_by, request_id, request_hash, feedback_id) VALUES ($1, $2, $3, $4)`,
				actor.UserID, in.RequestID, in.RequestHash, id)
			steps = append(steps, "claim request id")
		}
		vals := values(f)
		b.Queue(`INSERT INTO feedback (`+columns+`) VALUES (`+placeholders(len(vals))+`)`, vals...)
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		steps = append(steps, "insert feedback", "outbox: add event "+ev.GetId())
		return pgdb.SendCommit(ctx, conn, b, steps...)
	})
	if name, ok := pgdb.UniqueViolation(err); ok && name == "create_requests_pkey" {
		return s.priorRequest(ctx, actor.UserID, in)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// priorRequest returns the feedback that the earlier request with in's request id created, as it
// is now, or feedback.ErrRequestUsed if that request had other content.
func (s *Store) priorRequest(ctx context.Context, userID string, in CreateInput) (*feedback.Feedback, error) {
	var hash []byte
	var prior string
	if err := s.pool.QueryRow(ctx, `SELECT request_hash, feedback_id FROM create_requests WHERE created_by = $1 AND request_id = $2`,
		userID, in.RequestID).Scan(&hash, &prior); err != nil {
		return nil, fmt.Errorf("read request id: %w", err)
	}
	if !bytes.Equal(hash, in.RequestHash) {
		return nil, feedback.ErrRequestUsed
	}
	return s.Get(ctx, prior, Reach{}, true)
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

// event builds the change event of one feedback record.
func (s *Store) event(ctx context.Context, action string, before, after *feedback.Feedback, actor Actor) (*eventsv1.Event, error) {
	var changes []*commonv1.FieldChange
	for _, ch := range feedback.Diff(before, after) {
		fc, err := events.Change(ch.Field, ch.Before, ch.After)
		if err != nil {
			return nil, fmt.Errorf("event change %s: %w", ch.Field, err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(ctx, Schema, "feedback", action, after.ID, actor.proto(), after.Version, s.eventData(after, after.UpdatedAt), changes)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return ev, nil
}

// Get returns one feedback record within reach. Deleted feedback counts as not found unless
// includeDeleted is set.
func (s *Store) Get(ctx context.Context, id string, reach Reach, includeDeleted bool) (*feedback.Feedback, error) {
	args := []any{id}
	q := `SELECT ` + selectColumns + from + ` WHERE f.id = $1 AND ` + reach.where(&args)
	if !includeDeleted {
		q += ` AND f.deleted_at IS NULL`
	}
	return scanFeedback(s.pool.QueryRow(ctx, q, args...))
}

// UpdateInput describes one read-modify-write of feedback.
type UpdateInput struct {
	ID    string
	Reach Reach
	// Version, when not zero, must equal the stored version (the etag).
	Version int64
	// Action names the event: updated, assigned, status_changed, deleted.
	Action string
	// Apply changes the loaded feedback at now; an error aborts the update.
	Apply func(f *feedback.Feedback, now time.Time) error
}

// Update loads live feedback FOR UPDATE, checks its version, applies the change, saves it with
// the next version and writes its event, all in one transaction. A change that changes nothing
// is not saved and publishes nothing.
func (s *Store) Update(ctx context.Context, in UpdateInput, actor Actor) (*feedback.Feedback, error) {
	var out *feedback.Feedback
	// Two round trips: BEGIN and the locking read as one batch, the update, its event and COMMIT
	// as a second.
	err := pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		args := []any{in.ID}
		q := `SELECT ` + selectColumns + from + ` WHERE f.id = $1 AND f.deleted_at IS NULL AND ` + in.Reach.where(&args) + ` FOR UPDATE OF f`
		var f *feedback.Feedback
		if err := pgdb.BeginQueryRow(ctx, conn, q, args, func(row pgx.Row) (err error) {
			f, err = scanFeedback(row)
			return err
		}); err != nil {
			return err
		}
		if in.Version != 0 && in.Version != f.Version {
			return feedback.ErrStaleEtag
		}
		before := *f
		now := s.Now()
		if err := in.Apply(f, now); err != nil {
			return err
		}
		if len(feedback.Diff(&before, f)) == 0 {
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
		b.Queue(`UPDATE feedback SET `+updateSet+` WHERE id = $1`, values(f)...)
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		if err := pgdb.SendCommit(ctx, conn, b, "update feedback", "outbox: add event "+ev.GetId()); err != nil {
			return err
		}
		out = f
		return nil
	})
	return out, err
}

// updateSet is the SET list of Update: every column of columns from $1 in order.
var updateSet = func() string {
	cols := strings.Split(columns, ",")
	for i, col := range cols {
		cols[i] = fmt.Sprintf("%s = $%d", strings.TrimSpace(col), i+1)
	}
	return strings.Join(cols, ", ")
}()

// Export calls fn with the live feedback of the given customers within reach, customer by customer
// in the order of customerIDs, each customer's newest first. The caller passes a page of customers
// at a time; rows are handed over as they arrive, so memory does not grow with them.
func (s *Store) Export(ctx context.Context, customerIDs []string, reach Reach, fn func(*feedback.Feedback) error) error {
	args := []any{customerIDs}
	q := `SELECT ` + selectColumns + ` FROM unnest($1::text[]) WITH ORDINALITY AS c(id, ord)
		JOIN feedback f ON f.customer_id = c.id JOIN customer_refs r ON r.customer_id = f.customer_id
		WHERE f.deleted_at IS NULL AND ` + reach.where(&args) + ` ORDER BY c.ord, f.created_at DESC, f.id`
	if err := pgdb.Each(ctx, s.pool, q, args, scanFeedback, fn); err != nil {
		return fmt.Errorf("export feedback: %w", err)
	}
	return nil
}
