// Package store keeps customers in PostgreSQL (schema "customer"): plain SQL through pgx, every
// change in one transaction together with its change event in the outbox, optimistic concurrency
// on the version column, and keyset-paged lists.
//
// It must not import the gRPC server or the API's transport types other than to build event data.
package store

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/ids"
	"github.com/crmsuite/crm/pkg/outbox"
	"github.com/crmsuite/crm/pkg/pgdb"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/customer/internal/customer"
)

// Schema is the PostgreSQL schema the customer service owns.
const Schema = "customer"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the customer service's migrations and those of the packages it uses.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	own, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	for _, m := range []struct {
		set  string
		fsys fs.FS
	}{{"customer", own}, {"outbox", outbox.Migrations}, {"ids", ids.Migrations}} {
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

// Reach limits which customers a query may touch: one owner's, one team's, or (both empty) all.
// Sales scoping is a WHERE clause, never a filter after the fact.
type Reach struct {
	OwnerID string
	TeamID  string
}

// where appends the reach condition to args and returns it as SQL.
func (r Reach) where(args *[]any) string {
	switch {
	case r.OwnerID != "":
		*args = append(*args, r.OwnerID)
		return fmt.Sprintf("owner_id = $%d", len(*args))
	case r.TeamID != "":
		*args = append(*args, r.TeamID)
		return fmt.Sprintf("team_id = $%d", len(*args))
	}
	return "true"
}

// Store reads and writes customers.
type Store struct {
	pool *pgxpool.Pool
	ids  *ids.Allocator
	// eventData renders a customer as the event's data (the API's Customer message).
	eventData func(*customer.Customer) proto.Message
	now       func() time.Time
}

// New returns a store. eventData renders a customer for the `data` of its change events.
func New(pool *pgxpool.Pool, eventData func(*customer.Customer) proto.Message) *Store {
	return &Store{
		pool:      pool,
		ids:       ids.NewAllocator(pool, "CUST", ids.CustomerFormat, 100),
		eventData: eventData,
		now:       func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
}

// Pool returns the store's connection pool (readiness checks).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

const columns = `id, name, type, industry, uscc, contact_name, contact_title, mobile, landline, email,
	province, city, district, street, scale, status, source, first_contact_date, owner_id, team_id,
	amount_fen, remarks, consent, status_changed_at, status_changed_by, created_at, created_by,
	updated_at, updated_by, deleted_at, deleted_by, delete_reason, version, level, last_followup_at, merged_into`

// consentJSON is how consent is stored.
type consentJSON struct {
	Purpose     string     `json:"purpose"`
	ObtainedAt  *time.Time `json:"obtained_at,omitempty"`
	Channel     string     `json:"channel,omitempty"`
	EvidenceRef string     `json:"evidence_ref,omitempty"`
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`
}

func scanCustomer(row pgx.Row) (*customer.Customer, error) {
	var c customer.Customer
	var typ, scale, status, source string
	var fcd *time.Time
	var consent []byte
	err := row.Scan(&c.ID, &c.Name, &typ, &c.Industry, &c.USCC, &c.ContactName, &c.ContactTitle, &c.Mobile,
		&c.Landline, &c.Email, &c.Address.Province, &c.Address.City, &c.Address.District, &c.Address.Street,
		&scale, &status, &source, &fcd, &c.OwnerID, &c.TeamID, &c.AmountFen, &c.Remarks, &consent,
		&c.StatusChangedAt, &c.StatusChangedBy, &c.CreatedAt, &c.CreatedBy, &c.UpdatedAt, &c.UpdatedBy,
		&c.DeletedAt, &c.DeletedBy, &c.DeleteReason, &c.Version, &c.Level, &c.LastFollowUpAt, &c.MergedInto)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, customer.ErrNotFound
		}
		return nil, err
	}
	c.Type, c.Scale, c.Status, c.Source = customer.Type(typ), customer.Scale(scale), customer.Status(status), customer.Source(source)
	if fcd != nil {
		c.FirstContactDate = &customer.Date{Year: fcd.Year(), Month: fcd.Month(), Day: fcd.Day()}
	}
	if len(consent) > 0 {
		var cj consentJSON
		if err := json.Unmarshal(consent, &cj); err != nil {
			return nil, fmt.Errorf("decode consent of %s: %w", c.ID, err)
		}
		c.Consent = &customer.Consent{Purpose: cj.Purpose, ObtainedAt: cj.ObtainedAt, Channel: cj.Channel,
			EvidenceRef: cj.EvidenceRef, WithdrawnAt: cj.WithdrawnAt}
	}
	return &c, nil
}

// values returns the customer's column values in the order of columns.
func values(c *customer.Customer) ([]any, error) {
	var fcd *time.Time
	if c.FirstContactDate != nil {
		t := c.FirstContactDate.Time()
		fcd = &t
	}
	var consent []byte
	if cs := c.Consent; cs != nil {
		var err error
		consent, err = json.Marshal(consentJSON{Purpose: cs.Purpose, ObtainedAt: cs.ObtainedAt, Channel: cs.Channel,
			EvidenceRef: cs.EvidenceRef, WithdrawnAt: cs.WithdrawnAt})
		if err != nil {
			return nil, err
		}
	}
	return []any{c.ID, c.Name, string(c.Type), c.Industry, c.USCC, c.ContactName, c.ContactTitle, c.Mobile,
		c.Landline, c.Email, c.Address.Province, c.Address.City, c.Address.District, c.Address.Street,
		string(c.Scale), string(c.Status), string(c.Source), fcd, c.OwnerID, c.TeamID, c.AmountFen, c.Remarks,
		consent, c.StatusChangedAt, c.StatusChangedBy, c.CreatedAt, c.CreatedBy, c.UpdatedAt, c.UpdatedBy,
		c.DeletedAt, c.DeletedBy, c.DeleteReason, c.Version, c.Level, c.LastFollowUpAt, c.MergedInto}, nil
}

// CreateInput carries what a create needs besides the customer.
type CreateInput struct {
	// RequestID makes the create idempotent per caller; empty disables that.
	RequestID string
	// RequestHash fingerprints the request, so a reused id with other content is refused.
	RequestHash []byte
	// ConfirmNotDuplicate creates the customer even if its name, mobile or email match others.
	ConfirmNotDuplicate bool
}

// Create stores a new, validated customer and its `customer.created` event. It returns the
// first result again for a repeated request id, and a *customer.DuplicateError when the customer
// looks like an existing one.
func (s *Store) Create(ctx context.Context, c *customer.Customer, in CreateInput, actor Actor) (*customer.Customer, error) {
	// The id comes from a block reserved outside this transaction, so concurrent creates do not
	// queue on a counter row; a rolled-back create leaves a gap, never a duplicate.
	id, err := s.ids.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("allocate id: %w", err)
	}
	now := s.now()
	c.ID = id
	c.CreatedAt, c.UpdatedAt, c.StatusChangedAt = now, now, now
	c.CreatedBy, c.UpdatedBy, c.StatusChangedBy = actor.UserID, actor.UserID, actor.UserID
	c.Version = 1

	existingID, err := s.insert(ctx, c, in, actor)
	if err != nil {
		return nil, err
	}
	if existingID != "" {
		return s.Get(ctx, existingID, Reach{}, true)
	}
	return c, nil
}

// insert writes c, its request id and its event in one transaction, or returns the customer id
// of an earlier request with the same id. The transaction is one round trip (round trips were
// most of a create's cost, docs/benchmarks.md): BEGIN, the request id's claim, the advisory
// locks, the duplicate check, the insert, the outbox row and COMMIT go as one pipelined batch.
// The statements still run one after the other, so the check runs under the locks; and each
// refusal is an error that stops the transaction, so that PostgreSQL skips the rest of the batch
// and answers the COMMIT with nothing (it refuses to commit an aborted transaction): a claimed
// request id is a unique violation of create_requests, a duplicate makes duplicates_block raise
// (migration 0011). Only then does insert spend more round trips: to roll back, and to read the
// earlier request or the candidates to show.
func (s *Store) insert(ctx context.Context, c *customer.Customer, in CreateInput, actor Actor) (existingID string, err error) {
	vals, err := values(c)
	if err != nil {
		return "", err
	}
	ev, err := s.event(ctx, ActionCreated, nil, c, actor)
	if err != nil {
		return "", err
	}
	nameKey := c.NameKey() // folding a name takes three Unicode normalisations: once is enough
	// A duplicate the check saw may be gone (deleted) when its candidates are read again; the
	// create is then tried again, a few times at most.
	for attempt := 0; ; attempt++ {
		err = pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
			b := pgdb.TxBatch()
			steps := []string{"begin"}
			if in.RequestID != "" {
				b.Queue(claimSQL, actor.UserID, in.RequestID, in.RequestHash, c.ID)
				steps = append(steps, "claim request id")
			}
			steps = append(steps, queueDuplicateGuard(b, c, nameKey, in.ConfirmNotDuplicate)...)
			b.Queue(insertSQL, append(vals, nameKey)...)
			if err := outbox.Queue(b, ev); err != nil {
				return err
			}
			steps = append(steps, "insert customer", "outbox: add event "+ev.GetId())
			// Refusals fail the batch; prepared explicitly, its statements survive that.
			if err := pgdb.PrepareBatch(ctx, conn, b); err != nil {
				return err
			}
			err := pgdb.SendCommit(ctx, conn, b, steps...)
			if err == nil {
				return nil
			}
			// The transaction failed; end it before reading anything more on this connection.
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				return errors.Join(err, fmt.Errorf("roll back: %w", rerr))
			}
			name, unique := pgdb.UniqueViolation(err)
			switch {
			case unique && name == "create_requests_pkey":
				existingID, err = priorRequest(ctx, conn, actor.UserID, in)
				return err
			case unique && name == "customers_uscc_live", isDuplicatesBlock(err):
				return findDuplicates(ctx, conn, c, nameKey, in.ConfirmNotDuplicate)
			}
			return err
		})
		if !errors.Is(err, errDuplicateGone) || attempt == 2 {
			return existingID, err
		}
	}
}

// claimSQL records a create's request id. When an earlier request has the id, it fails with a
// unique violation, after waiting for that request's transaction if it is still open.
const claimSQL = `INSERT INTO create_requests (created_by, request_id, request_hash, customer_id) VALUES ($1, $2, $3, $4)`

// priorRequest returns the customer id of the earlier request that holds in.RequestID, or
// customer.ErrRequestUsed if that request had other content.
func priorRequest(ctx context.Context, conn *pgxpool.Conn, userID string, in CreateInput) (string, error) {
	var hash []byte
	var prior string
	if err := conn.QueryRow(ctx, `SELECT request_hash, customer_id FROM create_requests WHERE created_by = $1 AND request_id = $2`,
		userID, in.RequestID).Scan(&hash, &prior); err != nil {
		return "", fmt.Errorf("read request id: %w", err)
	}
	if !bytes.Equal(hash, in.RequestHash) {
		return "", customer.ErrRequestUsed
	}
	return prior, nil
}

// duplicateKeysSQL finds the live customers with the same USCC ($1), folded name ($2), mobile
// ($3) or e-mail ($4) as a new one, at most 10 per key. One index-driven branch per key, joined by
// UNION: a single WHERE with ORs under ORDER BY created_at makes the planner walk the created_at
// index over every customer (measured on a million rows: 570 ms against 0.4 ms for this form).
// The tests of $1 and $4 against the empty string skip the USCC and e-mail branches for an empty
// key when the plan runs; those of uscc, name_key and so on let the generic plan use each key's
// partial index (migration 0007).
const duplicateKeysSQL = `(SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
			WHERE deleted_at IS NULL AND $1 <> '' AND uscc <> '' AND uscc = $1 LIMIT 10)
		UNION
		(SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
			WHERE deleted_at IS NULL AND name_key <> '' AND name_key = $2 LIMIT 10)
		UNION
		(SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
			WHERE deleted_at IS NULL AND mobile <> '' AND mobile = $3 LIMIT 10)
		UNION
		(SELECT id, name, owner_id, uscc, name_key, mobile, email, created_at FROM customers
			WHERE deleted_at IS NULL AND $4 <> '' AND email <> '' AND email = $4 LIMIT 10)`

// planModeSQL makes the duplicate check run on one generic plan per connection. Left to choose,
// PostgreSQL plans it for its arguments on every create, which cost about 0.3 ms of its CPU on a
// million customers, several times what running it takes: the generic plan's estimate includes
// the branches that an empty USCC or e-mail skips. And on a small table, as on a new deployment,
// it did adopt a generic plan that walked the whole mobile index for the other keys, and kept it
// as the table grew. With sequential scans off while the plan is made, and each branch naming
// its key's partial index, the one plan is an index look-up per key whatever the table's size.
// The settings last until the transaction ends; what follows in a create is inserts, which scan
// nothing.
const planModeSQL = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`

// queueDuplicateGuard queues, after advisory locks on c's keys, the duplicate check that stops
// the transaction (duplicates_block) when a live customer has c's USCC, or, unless confirmed,
// its folded name (nameKey, c.NameKey()), mobile or e-mail. The locks serialise concurrent
// creates of the same customer, so two simultaneous requests cannot both pass the check. It
// returns the names of the statements it queued, for SendCommit's errors.
func queueDuplicateGuard(b *pgx.Batch, c *customer.Customer, nameKey string, confirmed bool) (steps []string) {
	keys := []string{"name:" + nameKey, "mobile:" + c.Mobile}
	if c.USCC != "" {
		keys = append(keys, "uscc:"+c.USCC)
	}
	// Locks are taken in one statement in a fixed order so that two creates cannot deadlock.
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k ORDER BY k`, keys)
	b.Queue(planModeSQL)
	b.Queue(`SELECT duplicates_block(bool_or(uscc <> '' AND uscc = $1), count(*), $5) FROM (`+duplicateKeysSQL+`) m`,
		c.USCC, nameKey, c.Mobile, c.Email, confirmed)
	return []string{"lock duplicate keys", "set the plan mode", "check duplicates"}
}

// isDuplicatesBlock reports whether err is duplicates_block's refusal.
func isDuplicatesBlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "CR001"
}

// errDuplicateGone: the duplicate that stopped a create was not found again.
var errDuplicateGone = errors.New("the duplicate that stopped the create is gone")

// findDuplicates reads the live customers that c looks like, for the answer to a create that the
// check stopped: a *customer.DuplicateError with them, or errDuplicateGone when none that stops
// the create is left. It runs outside a transaction (the plan settings last for the batch's
// implicit one).
func findDuplicates(ctx context.Context, conn *pgxpool.Conn, c *customer.Customer, nameKey string, confirmed bool) error {
	b := &pgx.Batch{}
	b.Queue(planModeSQL)
	b.Queue(`SELECT id, name, owner_id, uscc <> '' AND uscc = $1, name_key = $2, mobile = $3, $4 <> '' AND email = $4
		FROM (`+duplicateKeysSQL+`) m ORDER BY created_at, id LIMIT 10`, c.USCC, nameKey, c.Mobile, c.Email)
	var dup *customer.DuplicateError
	if err := pgdb.SendBatch(ctx, conn, b, func(br pgx.BatchResults) (err error) {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("set the plan mode: %w", err)
		}
		dup, err = readDuplicates(br)
		return err
	}); err != nil {
		return err
	}
	if !dup.ExactUSCC && (len(dup.Candidates) == 0 || confirmed) {
		return errDuplicateGone
	}
	return dup
}

// readDuplicates reads the candidates of findDuplicates's query, and whether one has the same USCC.
func readDuplicates(br pgx.BatchResults) (*customer.DuplicateError, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	defer rows.Close()
	dup := &customer.DuplicateError{}
	for rows.Next() {
		var cand customer.Candidate
		var byUSCC, byName, byMobile, byEmail bool
		if err := rows.Scan(&cand.ID, &cand.Name, &cand.OwnerID, &byUSCC, &byName, &byMobile, &byEmail); err != nil {
			return nil, err
		}
		for _, m := range []struct {
			hit   bool
			field string
		}{{byUSCC, "uscc"}, {byName, "name"}, {byMobile, "mobile"}, {byEmail, "email"}} {
			if m.hit {
				cand.Matched = append(cand.Matched, m.field)
			}
		}
		dup.ExactUSCC = dup.ExactUSCC || byUSCC
		dup.Candidates = append(dup.Candidates, cand)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find duplicates: %w", err)
	}
	return dup, nil
}

// insertSQL inserts a customer: every column of columns from $1 in order, then name_key. Built
// once: formatting its 37 placeholders cost a create 3 % of the service's CPU.
var insertSQL = func() string {
	var b strings.Builder
	n := strings.Count(columns, ",") + 2 // the columns and name_key
	b.WriteString("INSERT INTO customers (" + columns + ", name_key) VALUES (")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	b.WriteString(")")
	return b.String()
}()

// The actions of the customer events this service publishes, on crm.customer.customer.<action>.
// The customer projections of other services subscribe to each of them but ActionCreated by
// name (customerref.ChangeSubjects): an action missing there would never reach them. So events
// are built only for the actions listed in Actions, and TestProjectionsHearEveryChangeButCreation
// checks that list against customerref's.
const (
	ActionCreated       = "created"
	ActionUpdated       = "updated"
	ActionStatusChanged = "status_changed"
	ActionDeleted       = "deleted"
	ActionUndeleted     = "undeleted"
)

// Actions lists every action of the customer events.
var Actions = []string{ActionCreated, ActionUpdated, ActionStatusChanged, ActionDeleted, ActionUndeleted}

// checkAction refuses an action that Actions does not list.
func checkAction(action string) error {
	if !slices.Contains(Actions, action) {
		return fmt.Errorf("customer event action %q is not in store.Actions", action)
	}
	return nil
}

// event builds the change event of one customer.
func (s *Store) event(ctx context.Context, action string, before, after *customer.Customer, actor Actor) (*eventsv1.Event, error) {
	if err := checkAction(action); err != nil {
		return nil, err
	}
	var changes []*commonv1.FieldChange
	for _, ch := range customer.Diff(before, after) {
		fc, err := events.Change(ch.Field, ch.Before, ch.After)
		if err != nil {
			return nil, fmt.Errorf("event change %s: %w", ch.Field, err)
		}
		changes = append(changes, fc)
	}
	ev, err := events.New(ctx, Schema, "customer", action, after.ID, actor.proto(), after.Version, s.eventData(after), changes)
	if err != nil {
		return nil, fmt.Errorf("build event: %w", err)
	}
	return ev, nil
}

// Get returns one customer within reach. Deleted customers count as not found unless
// includeDeleted is set.
func (s *Store) Get(ctx context.Context, id string, reach Reach, includeDeleted bool) (*customer.Customer, error) {
	args := []any{id}
	q := `SELECT ` + columns + ` FROM customers WHERE id = $1 AND ` + reach.where(&args)
	if !includeDeleted {
		q += ` AND deleted_at IS NULL`
	}
	return scanCustomer(s.pool.QueryRow(ctx, q, args...))
}

// UpdateInput describes one read-modify-write of a customer.
type UpdateInput struct {
	ID    string
	Reach Reach
	// Version, when not zero, must equal the stored version (the etag).
	Version int64
	// Action names the event: ActionUpdated, ActionStatusChanged, ActionDeleted or ActionUndeleted.
	Action string
	// Deleted selects deleted (true) or live (false) customers.
	Deleted bool
	// Apply changes the loaded customer; an error aborts the update.
	Apply func(c *customer.Customer, now time.Time) error
}

// Update loads the customer FOR UPDATE, checks its version, applies the change, saves it with
// the next version and writes its event, all in one transaction. A change that changes nothing
// is not saved and publishes nothing.
func (s *Store) Update(ctx context.Context, in UpdateInput, actor Actor) (*customer.Customer, error) {
	var out *customer.Customer
	// Two round trips, as insert: BEGIN and the locking read as one batch, the update, its event
	// and COMMIT as a second.
	err := pgdb.InBatchTx(ctx, s.pool, func(conn *pgxpool.Conn) error {
		args := []any{in.ID}
		q := `SELECT ` + columns + ` FROM customers WHERE id = $1 AND ` + in.Reach.where(&args)
		if in.Deleted {
			q += ` AND deleted_at IS NOT NULL`
		} else {
			q += ` AND deleted_at IS NULL`
		}
		var c *customer.Customer
		if err := pgdb.BeginQueryRow(ctx, conn, q+` FOR UPDATE`, args, func(row pgx.Row) (err error) {
			c, err = scanCustomer(row)
			return err
		}); err != nil {
			return err
		}
		if in.Version != 0 && in.Version != c.Version {
			return customer.ErrStaleEtag
		}
		before := *c
		now := s.now()
		if err := in.Apply(c, now); err != nil {
			return err
		}
		if len(customer.Diff(&before, c)) == 0 {
			out = &before
			return nil // InBatchTx rolls the transaction back: nothing was written
		}
		c.Version = before.Version + 1
		c.UpdatedAt, c.UpdatedBy = now, actor.UserID
		vals, err := values(c)
		if err != nil {
			return err
		}
		ev, err := s.event(ctx, in.Action, &before, c, actor)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE customers SET `+updateSet+` WHERE id = $1`, append(vals, c.NameKey())...)
		if err := outbox.Queue(b, ev); err != nil {
			return err
		}
		if err := pgdb.SendCommit(ctx, conn, b, "update customer", "outbox: add event "+ev.GetId()); err != nil {
			if name, ok := pgdb.UniqueViolation(err); ok && name == "customers_uscc_live" {
				return customer.ErrUSCCTaken
			}
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// updateSet is the SET list of Update: every column of columns from $1 in order, then name_key.
var updateSet = func() string {
	var set strings.Builder
	cols := strings.Split(columns, ",")
	for i, col := range cols {
		fmt.Fprintf(&set, "%s = $%d, ", strings.TrimSpace(col), i+1)
	}
	fmt.Fprintf(&set, "name_key = $%d", len(cols)+1)
	return set.String()
}()

// LastFollowUp is a customer's last follow-up time as the follow-up service last published it:
// At is nil when no follow-up record is left; Version orders the publications.
type LastFollowUp struct {
	CustomerID string
	At         *time.Time
	Version    int64
}

// SetLastFollowUps stores each customer's last follow-up time where its version is newer than
// the one held, so a late or repeated event cannot roll it back; customers this service does not
// hold are skipped. All in one statement and one commit: the consumer hands over whole batches.
func (s *Store) SetLastFollowUps(ctx context.Context, ls []LastFollowUp) error {
	newest := map[string]LastFollowUp{}
	for _, l := range ls {
		if cur, ok := newest[l.CustomerID]; !ok || l.Version > cur.Version {
			newest[l.CustomerID] = l
		}
	}
	ids := slices.Sorted(maps.Keys(newest)) // rows locked in one order whatever the batch, so two never deadlock
	at := make([]*time.Time, len(ids))
	versions := make([]int64, len(ids))
	for i, id := range ids {
		at[i], versions[i] = newest[id].At, newest[id].Version
	}
	_, err := s.pool.Exec(ctx, `UPDATE customers c SET last_followup_at = u.at, last_followup_version = u.version
		FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS u(id, at, version)
		WHERE c.id = u.id AND c.last_followup_version < u.version`, ids, at, versions)
	if err != nil {
		return fmt.Errorf("set last follow-up of %d customers: %w", len(ids), err)
	}
	return nil
}

// Level is a customer's level as the tagging service last published it.
type Level struct {
	CustomerID string
	Level      string
	Version    int64
}

// SetLevels stores each customer's level from the tagging service where its version is newer
// than the level version held, so a late or repeated event cannot roll the level back; one
// statement and one commit, as SetLastFollowUps.
func (s *Store) SetLevels(ctx context.Context, ls []Level) error {
	newest := map[string]Level{}
	for _, l := range ls {
		if cur, ok := newest[l.CustomerID]; !ok || l.Version > cur.Version {
			newest[l.CustomerID] = l
		}
	}
	ids := slices.Sorted(maps.Keys(newest))
	levels := make([]string, len(ids))
	versions := make([]int64, len(ids))
	for i, id := range ids {
		levels[i], versions[i] = newest[id].Level, newest[id].Version
	}
	_, err := s.pool.Exec(ctx, `UPDATE customers c SET level = u.level, level_version = u.version
		FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, level, version)
		WHERE c.id = u.id AND c.level_version < u.version`, ids, levels, versions)
	if err != nil {
		return fmt.Errorf("set level of %d customers: %w", len(ids), err)
	}
	return nil
}
