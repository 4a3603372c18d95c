// Package store keeps needs in PostgreSQL (schema "needs"): plain SQL through pgx, every change in
// one transaction together with its stage history row and its change event in the outbox,
// optimistic concurrency on the version column, keyset-paged lists and the pipeline sums. Who may
// see a need is decided in the WHERE clause, by joining the customer projection (customer_refs).
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
	"github.com/crmsuite/crm/services/needs/internal/need"
)

// Schema is the PostgreSQL schema the needs service owns.
const Schema = "needs"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the needs service's migrations and those of the packages it uses.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	own, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for _, m := range []struct {
		set  string
		fsys fs.FS
	}{{"needs", own}, {"outbox", outbox.Migrations}, {"ids", ids.Migrations}, {"customerref", customerref.Migrations}} {
		if err := pgdb.Migrate(ctx, pool, Schema, m.set, m.fsys); err != nil {
			return fmt.Errorf("migrate %s: %w", m.set, err)
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

// Reach limits which needs a query may touch, through their customers: one owner's customers, one
// team's, or (both empty) all. Needs of soft-deleted customers are out of reach unless
// DeletedCustomers is set (admins). Sales scoping is a WHERE clause, never a filter after the fact.
type Reach struct {
	OwnerID          string
	TeamID           string
	DeletedCustomers bool
}

// where appends the reach conditions on the customer projection (alias r) to args and returns them
// as SQL.
func (r Reach) where(args *[]any) string {
	conds := []string{"true"}
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
	return strings.Join(conds, " AND ")
}

// Store reads and writes needs.
type Store struct {
	pool *pgxpool.Pool
	ids  *ids.Allocator
	// eventData renders a need as the event's data (the API's Need message).
	eventData func(*need.Need) proto.Message
	now       func() time.Time
}

// New returns a store. eventData renders a need for the `data` of its change events.
func New(pool *pgxpool.Pool, eventData func(*need.Need) proto.Message) *Store {
	return &Store{
		pool:      pool,
		ids:       ids.NewAllocator(pool, "D", ids.CompactFormat("D"), 100),
		eventData: eventData,
		now:       func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
}

// Pool returns the store's connection pool (readiness checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// columns are the stored columns of a need, in the order of values().
var columns = []string{"id", "customer_id", "title", "type", "description", "budget_min_fen", "budget_max_fen",
	"expected_delivery_date", "expected_close_date", "expected_amount_fen", "stage", "lost_reason", "department",
	"owner_id", "competitors", "stage_changed_at", "stage_changed_by", "created_at", "created_by", "updated_at",
	"updated_by", "deleted_at", "deleted_by", "version"}

// selectFrom reads needs with their customer's team and deletion from the projection.
var selectFrom = `SELECT n.` + strings.Join(columns, ", n.") + `, r.team_id, r.deleted
	FROM needs n JOIN customer_refs r ON r.customer_id = n.customer_id`

func scanNeed(row pgx.Row) (*need.Need, error) {
	var n need.Need
	var typ, stage string
	var delivery, closeDate *time.Time
	err := row.Scan(&n.ID, &n.CustomerID, &n.Title, &typ, &n.Description, &n.BudgetMinFen, &n.BudgetMaxFen,
		&delivery, &closeDate, &n.AmountFen, &stage, &n.LostReason, &n.Department, &n.OwnerID, &n.Competitors,
		&n.StageChangedAt, &n.StageChangedBy, &n.CreatedAt, &n.CreatedBy, &n.UpdatedAt, &n.UpdatedBy,
		&n.DeletedAt, &n.DeletedBy, &n.Version, &n.TeamID, &n.CustomerDeleted)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, need.ErrNotFound
		}
		return nil, err
	}
	n.Type, n.Stage = need.Type(typ), need.Stage(stage)
	n.DeliveryDate, n.CloseDate = fromDate(delivery), fromDate(closeDate)
	if len(n.Competitors) == 0 {
		n.Competitors = nil
	}
	return &n, nil
}

func fromDate(t *time.Time) *need.Date {
	if t == nil {
		return nil
	}
	d := need.DateOf(*t)
	return &d
}

func toDate(d *need.Date) *time.Time {
	if d == nil {
		return nil
	}
	t := d.Time()
	return &t
}

// values returns the need's column values in the order of columns.
func values(n *need.Need) []any {
	comps := n.Competitors
	if comps == nil {
		comps = []string{}
	}
	return []any{n.ID, n.CustomerID, n.Title, string(n.Type), n.Description, n.BudgetMinFen, n.BudgetMaxFen,
		toDate(n.DeliveryDate), toDate(n.CloseDate), n.AmountFen, string(n.Stage), n.LostReason, n.Department,
		n.OwnerID, comps, n.StageChangedAt, n.StageChangedBy, n.CreatedAt, n.CreatedBy, n.UpdatedAt,
		n.UpdatedBy, n.DeletedAt, n.DeletedBy, n.Version}
}

// CreateInput carries what a create needs besides the need.
type CreateInput struct {
	// RequestID makes the create idempotent per caller; empty disables that.
	RequestID string
	// RequestHash fingerprints the request, so a reused id with other content is refused.
	RequestHash []byte
}

// Create stores a new, validated need, the first entry of its stage history and its `need.created`
// event. The caller has checked the customer (live, within reach) and set TeamID from it. A
// repeated request id returns the first result again.
func (s *Store) Create(ctx context.Context, n *need.Need, in CreateInput, actor Actor) (*need.Need, error) {
	// The id comes from a block reserved outside this transaction, so concurrent creates do not
	// queue on a counter row; a rolled-back create leaves a gap, never a duplicate.
	id, err := s.ids.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate id: %w", err)
	}
	now := s.now()
	n.ID = id
	n.CreatedAt, n.UpdatedAt, n.StageChangedAt = now, now, now
	n.CreatedBy, n.UpdatedBy, n.StageChangedBy = actor.UserID, actor.UserID, actor.UserID
	n.Version = 1

	ev, err := s.event(ctx, "created", nil, n, actor)
	if err != nil {
		return nil, err
	}
	// One round trip: BEGIN, the request id's claim, the need, its first stage, its event and
	// COMMIT as one batch. The claim has no ON CONFLICT: a request id an earlier request holds
	// fails it (once that request has committed, if it is still in flight), the server skips the
	// rest of the batch, and the transaction rolls back having written nothing.
	err = pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		b, steps := pgdb.TxBatch(), []string{"begin"}
		if in.RequestID != "" {
			b.Queue(`INSERT INTO create_requests (created_by, request_id, request_hash, need_id) VALUES ($1, $2, $3, $4)`,
				actor.UserID, in.RequestID, in.RequestHash, id)
			steps = append(steps, "claim request id")
		}
		b.Queue(`INSERT INTO needs (`+strings.Join(columns, ", ")+`) VALUES (`+placeholders(len(columns))+`)`, values(n)...)
		queueStageChange(b, need.StageChange{NeedID: n.ID, To: n.Stage, ChangedAt: now, ChangedBy: actor.UserID})
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		steps = append(steps, "insert need", "insert stage change", "outbox: add event "+ev.GetId())
		return pgdb.SendCommit(ctx, conn, b, steps...)
	})
	if name, ok := pgdb.UniqueViolation(err); ok && name == "create_requests_pkey" {
		return s.priorRequest(ctx, actor.UserID, in)
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

// priorRequest returns the need that the earlier request with in's request id created, as it is
// now, or need.ErrRequestUsed if that request had other content.
func (s *Store) priorRequest(ctx context.Context, userID string, in CreateInput) (*need.Need, error) {
	var hash []byte
	var prior string
	if err := s.pool.QueryRow(ctx, `SELECT request_hash, need_id FROM create_requests WHERE created_by = $1 AND request_id = $2`,
		userID, in.RequestID).Scan(&hash, &prior); err != nil {
		return nil, fmt.Errorf("read request id: %w", err)
	}
	if !bytes.Equal(hash, in.RequestHash) {
		return nil, need.ErrRequestUsed
	}
	sql, args := getSQL(prior, Reach{DeletedCustomers: true}, true, false)
	return scanNeed(s.pool.QueryRow(ctx, sql, args...))
}

// queueStageChange queues the insert of one entry of a need's stage history.
func queueStageChange(b *pgx.Batch, c need.StageChange) {
	b.Queue(`INSERT INTO need_stage_changes (need_id, from_stage, to_stage, reason, reopened, changed_at, changed_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.NeedID, string(c.From), string(c.To), c.Reason, c.Reopened, c.ChangedAt, c.ChangedBy)
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

// event builds the change event of one need.
func (s *Store) event(ctx context.Context, action string, before, after *need.Need, actor Actor) (*eventsv1.Event, error) {
	var changes []*commonv1.FieldChange
	for _, ch := range need.Diff(before, after) {
		fc, err := events.Change(ch.Field, ch.Before, ch.After)
		if err != nil {
			return nil, fmt.Errorf("event change %s: %w", ch.Field, err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(ctx, Schema, "need", action, after.ID, actor.proto(), after.Version, s.eventData(after), changes)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return ev, nil
}

// Get returns one live (not deleted) need within reach.
func (s *Store) Get(ctx context.Context, id string, reach Reach) (*need.Need, error) {
	sql, args := getSQL(id, reach, false, false)
	return scanNeed(s.pool.QueryRow(ctx, sql, args...))
}

// getSQL is the query of one need within reach, with its arguments.
func getSQL(id string, reach Reach, includeDeleted, forUpdate bool) (string, []any) {
	args := []any{id}
	sql := selectFrom + ` WHERE n.id = $1 AND ` + reach.where(&args)
	if !includeDeleted {
		sql += ` AND n.deleted_at IS NULL`
	}
	if forUpdate {
		sql += ` FOR UPDATE OF n`
	}
	return sql, args
}

// UpdateInput describes one read-modify-write of a need.
type UpdateInput struct {
	ID    string
	Reach Reach
	// Version, when not zero, must equal the stored version (the etag).
	Version int64
	// Action names the event: updated, stage_changed, reopened, deleted.
	Action string
	// Reason goes into the stage history when the change moves the stage.
	Reason string
	// AllowDeletedCustomer lets the change through although the need's customer is deleted
	// (deleting the need); otherwise that is need.ErrCustomerDeleted.
	AllowDeletedCustomer bool
	// Apply changes the loaded need; an error aborts the update.
	Apply func(n *need.Need, now time.Time) error
}

// Update loads the need FOR UPDATE, checks its version, applies the change, saves it with the next
// version, records a stage change in the history and writes its event, all in one transaction. A
// change that changes nothing is not saved and publishes nothing.
func (s *Store) Update(ctx context.Context, in UpdateInput, actor Actor) (*need.Need, error) {
	var out *need.Need
	// Two round trips: BEGIN and the locking read as one batch; the update, the stage history,
	// the event and COMMIT as a second.
	err := pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		sql, args := getSQL(in.ID, in.Reach, false, true)
		var n *need.Need
		if err := pgdb.BeginQueryRow(ctx, conn, sql, args, func(row pgx.Row) (err error) {
			n, err = scanNeed(row)
			return err
		}); err != nil {
			return err
		}
		if n.CustomerDeleted && !in.AllowDeletedCustomer {
			return need.ErrCustomerDeleted
		}
		if in.Version != 0 && in.Version != n.Version {
			return need.ErrStaleEtag
		}
		before := *n
		now := s.now()
		if err := in.Apply(n, now); err != nil {
			return err
		}
		if len(need.Diff(&before, n)) == 0 {
			out = &before
			return nil // InBatchTx rolls the transaction back: nothing was written
		}
		n.Version = before.Version + 1
		n.UpdatedAt, n.UpdatedBy = now, actor.UserID
		ev, err := s.event(ctx, in.Action, &before, n, actor)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE needs SET `+updateSet+` WHERE id = $1`, values(n)...)
		steps := []string{"update need"}
		if n.Stage != before.Stage {
			queueStageChange(b, need.StageChange{NeedID: n.ID, From: before.Stage, To: n.Stage, Reason: in.Reason,
				Reopened: before.Stage.Closed() && n.Stage.Open(), ChangedAt: now, ChangedBy: actor.UserID})
			steps = append(steps, "insert stage change")
		}
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		steps = append(steps, "outbox: add event "+ev.GetId())
		if err := pgdb.SendCommit(ctx, conn, b, steps...); err != nil {
			return err
		}
		out = n
		return nil
	})
	return out, err
}

// updateSet is the SET list of Update: every column from $1 in order.
var updateSet = func() string {
	set := make([]string, len(columns))
	for i, col := range columns {
		set[i] = fmt.Sprintf("%s = $%d", col, i+1)
	}
	return strings.Join(set, ", ")
}()

// Export calls fn with the live needs of the given customers within reach, customer by customer in
// the order of customerIDs, each customer's newest need first. The caller passes a page of
// customers at a time; rows are handed over as they arrive, so memory does not grow with them.
func (s *Store) Export(ctx context.Context, customerIDs []string, reach Reach, fn func(*need.Need) error) error {
	args := []any{customerIDs}
	q := `SELECT n.` + strings.Join(columns, ", n.") + `, r.team_id, r.deleted
		FROM unnest($1::text[]) WITH ORDINALITY AS c(id, ord)
		JOIN needs n ON n.customer_id = c.id JOIN customer_refs r ON r.customer_id = n.customer_id
		WHERE n.deleted_at IS NULL AND ` + reach.where(&args) + ` ORDER BY c.ord, n.created_at DESC, n.id`
	if err := pgdb.Each(ctx, s.pool, q, args, scanNeed, fn); err != nil {
		return fmt.Errorf("export needs: %w", err)
	}
	return nil
}
