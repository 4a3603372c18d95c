// Package customerref keeps, in a service's own schema, the projection of customers that the
// service needs for access checks and references (owner, team, deleted, merged-into), fed by the
// customer service's change events and, for a customer it has not heard of yet, by that service's
// GetCustomer API. Services join their rows to customer_refs so that sales scoping stays a WHERE
// clause.
//
// It must not import any service's code; it speaks to the customer service only through its
// generated gRPC client and its events.
package customerref

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/crmsuite/crm/pkg/authn"
	"github.com/crmsuite/crm/pkg/authz"
	"github.com/crmsuite/crm/pkg/events"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations creates the customer_refs table; apply it with pgdb.Migrate(ctx, pool, schema, "customerref", Migrations).
var Migrations = mustSub(migrationFiles, "migrations")

func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded folder is fixed at build time
	}
	return sub
}

// ErrNotFound means the customer does not exist (or is deleted or merged away).
var ErrNotFound = errors.New("customer not found")

// Ref is what a service knows of one customer.
type Ref struct {
	CustomerID string
	OwnerID    string
	TeamID     string
	Deleted    bool
	MergedInto string
	Version    int64
}

// Live reports whether records may still be attached to the customer.
func (r Ref) Live() bool { return !r.Deleted && r.MergedInto == "" }

// Visible reports whether a caller with this principal and scope may see the customer's records:
// everyone with ScopeAll, the team with ScopeTeam, the owner with ScopeOwn.
func (r Ref) Visible(p authn.Principal, scope authz.Scope) bool {
	switch scope {
	case authz.ScopeAll:
		return true
	case authz.ScopeTeam:
		return r.TeamID != "" && r.TeamID == p.Team
	case authz.ScopeOwn:
		return r.OwnerID == p.UserID
	}
	return false
}

// Projection reads and maintains customer_refs.
type Projection struct {
	pool        *pgxpool.Pool
	customers   customerv1.CustomerServiceClient
	systemToken func() (string, error)
}

// New returns a projection over the service's pool. customers and systemToken are used to look up
// customers the projection has not seen yet.
func New(pool *pgxpool.Pool, customers customerv1.CustomerServiceClient, systemToken func() (string, error)) *Projection {
	return &Projection{pool: pool, customers: customers, systemToken: systemToken}
}

// Get returns a customer's reference: from the projection, or else from the customer service
// (then remembered). A customer that does not exist is ErrNotFound.
func (p *Projection) Get(ctx context.Context, customerID string) (Ref, error) {
	r, err := p.local(ctx, customerID)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return r, err
	}
	token, err := p.systemToken()
	if err != nil {
		return Ref{}, fmt.Errorf("system token: %w", err)
	}
	c, err := p.customers.GetCustomer(authn.WithBearer(ctx, token), &customerv1.GetCustomerRequest{CustomerId: customerID})
	if status.Code(err) == codes.NotFound {
		return Ref{}, ErrNotFound
	}
	if err != nil {
		return Ref{}, fmt.Errorf("ask customer service for %s: %w", customerID, err)
	}
	r = fromCustomer(c)
	if err := p.upsert(ctx, r); err != nil {
		return Ref{}, err
	}
	return r, nil
}

func (p *Projection) local(ctx context.Context, id string) (Ref, error) {
	r := Ref{CustomerID: id}
	err := p.pool.QueryRow(ctx, `SELECT owner_id, team_id, deleted, merged_into, version FROM customer_refs WHERE customer_id = $1`, id).
		Scan(&r.OwnerID, &r.TeamID, &r.Deleted, &r.MergedInto, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Ref{}, ErrNotFound
	}
	if err != nil {
		return Ref{}, fmt.Errorf("read customer ref %s: %w", id, err)
	}
	return r, nil
}

func fromCustomer(c *customerv1.Customer) Ref {
	v, _ := strconv.ParseInt(c.GetEtag(), 10, 64)
	return Ref{CustomerID: c.GetCustomerId(), OwnerID: c.GetOwnerId(), TeamID: c.GetTeamId(),
		Deleted: c.GetDeleteTime() != nil, MergedInto: c.GetMergedInto(), Version: v}
}

// customerMessage is the full name of the message in a customer event's data.
var customerMessage = (&customerv1.Customer{}).ProtoReflect().Descriptor().FullName()

// View decodes the customer in a customer event's data into a CustomerView: the few fields
// projections read, the rest skipped (BenchmarkView: 0.8 µs against 1.8 for the whole Customer).
func View(ev *eventsv1.Event) (*customerv1.CustomerView, error) {
	if name := ev.GetData().MessageName(); name != customerMessage {
		return nil, fmt.Errorf("customer event %s: data is %q, not %s", ev.GetId(), name, customerMessage)
	}
	var v customerv1.CustomerView
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(ev.GetData().GetValue(), &v); err != nil {
		return nil, fmt.Errorf("customer event %s: %w", ev.GetId(), err)
	}
	return &v, nil
}

// upsert stores a reference unless a newer version is already there, so events delivered out of
// order (or an API answer racing an event) never roll the projection back.
func (p *Projection) upsert(ctx context.Context, r Ref) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO customer_refs (customer_id, owner_id, team_id, deleted, merged_into, version)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (customer_id) DO UPDATE SET owner_id = excluded.owner_id, team_id = excluded.team_id,
			deleted = excluded.deleted, merged_into = excluded.merged_into, version = excluded.version, updated_at = now()
		WHERE customer_refs.version < excluded.version`,
		r.CustomerID, r.OwnerID, r.TeamID, r.Deleted, r.MergedInto, r.Version)
	if err != nil {
		return fmt.Errorf("store customer ref %s: %w", r.CustomerID, err)
	}
	return nil
}

// Apply updates the projection from one customer event; other events are ignored. It is
// idempotent: applying the same or an older event again changes nothing.
func (p *Projection) Apply(ctx context.Context, ev *eventsv1.Event) error {
	return p.ApplyBatch(ctx, []*eventsv1.Event{ev})
}

// ApplyBatch updates the projection from several events in one statement (one round trip and one
// commit, however many events): of several events of one customer the newest counts, and as with
// Apply no event rolls a newer row back. Events other than customer events are ignored.
func (p *Projection) ApplyBatch(ctx context.Context, evs []*eventsv1.Event) error {
	changes, err := Newest(evs)
	if err != nil || len(changes) == 0 {
		return err
	}
	b := &pgx.Batch{}
	QueueRefs(b, changes)
	if err := p.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store customer refs: %w", err)
	}
	return nil
}

// Change is a customer as the newest of a batch's events of it carried it.
type Change struct {
	Customer *customerv1.CustomerView
	Version  int64 // the event's entity version
	// anyField is set when one of the customer's events in the batch did not say which fields it
	// changed (a creation, or an event decoded without its changes): any may have. Otherwise
	// changed lists the fields the events changed, by their change lists.
	anyField bool
	changed  []string
}

// Touches reports whether the customer's events in the batch may have changed one of fields (the
// API's field paths, as in the events' change lists, e.g. "owner_id" or "address.province").
func (c Change) Touches(fields ...string) bool {
	if c.anyField {
		return true
	}
	for _, f := range fields {
		if slices.Contains(c.changed, f) {
			return true
		}
	}
	return false
}

// RefFields are the customer fields a reference holds (owner, team, deleted, merged), as the
// customer events' change lists name them.
var RefFields = []string{"owner_id", "team_id", "delete_time", "merged_into"}

// Newest decodes the customer events among evs (others are skipped) and keeps each customer's
// newest, in the order the customers first appear: one row per customer, as ON CONFLICT DO UPDATE
// may not touch a row twice in one statement. Each Change also gathers the fields that the
// customer's events changed, so that a projection can tell the changes that leave its columns
// alone (Touches). A service that keeps other projections of the same events decodes them once
// here and queues its own statements beside QueueRefs.
func Newest(evs []*eventsv1.Event) ([]Change, error) {
	at := map[string]int{} // customer id → index in out
	var out []Change
	for _, ev := range evs {
		if ev.GetEntityType() != "customer" || ev.GetData() == nil {
			continue
		}
		c, err := View(ev)
		if err != nil {
			return nil, err
		}
		ch := Change{Customer: c, Version: ev.GetEntityVersion()}
		i, seen := at[c.GetCustomerId()]
		if !seen {
			at[c.GetCustomerId()] = len(out)
			out = append(out, Change{Version: -1})
			i = len(out) - 1
		}
		prev := out[i]
		if ch.Version <= prev.Version {
			ch.Customer, ch.Version = prev.Customer, prev.Version
		}
		// A creation lists every field it set, but a projection must store its row whatever the
		// fields: count it as changing all of them.
		ch.anyField = prev.anyField || len(ev.GetChanges()) == 0 || ev.GetType() == "customer.created"
		if !ch.anyField {
			ch.changed = prev.changed
			for _, fc := range ev.GetChanges() {
				if !slices.Contains(ch.changed, fc.GetField()) {
					ch.changed = append(ch.changed, fc.GetField())
				}
			}
		}
		out[i] = ch
	}
	return out, nil
}

// QueueRefs queues on b the statements with which ApplyBatch stores changes (from Newest), so that
// a service can apply them with its other projections in one round trip and one commit (a batch
// sent outside a transaction is one).
//
// A change that touches none of RefFields (most updates: a phone number, the remarks) leaves the
// row alone when it already holds the same owner, team, deleted and merged: writing it only to
// raise its version cost each of the four services that keep references a row version, its WAL
// and, after a checkpoint, a full page image, for every customer update. Leaving the version lower
// is safe: such a change keeps the values of the customer's last change that did touch them, so
// any event older than it either carries the same values or is older than that one, and the
// version guard still orders the changes that do touch them. The values are compared rather than
// the row left alone outright, so that a row a lost event left behind is repaired by the
// customer's next event, as before.
func QueueRefs(b *pgx.Batch, changes []Change) {
	touching, others := Split(changes, RefFields...)
	queueRefs(b, touching, "customer_refs.version < excluded.version")
	queueRefs(b, others, `customer_refs.version < excluded.version AND
			(customer_refs.owner_id, customer_refs.team_id, customer_refs.deleted, customer_refs.merged_into) IS DISTINCT FROM
			(excluded.owner_id, excluded.team_id, excluded.deleted, excluded.merged_into)`)
}

// Split divides changes into those that touch one of fields and the others.
func Split(changes []Change, fields ...string) (touching, others []Change) {
	for _, ch := range changes {
		if ch.Touches(fields...) {
			touching = append(touching, ch)
		} else {
			others = append(others, ch)
		}
	}
	return touching, others
}

// queueRefs queues the upsert of changes, updating an existing row where the condition holds;
// nothing when there are no changes. The condition is one of QueueRefs' constants, never input.
func queueRefs(b *pgx.Batch, changes []Change, condition string) {
	n := len(changes)
	if n == 0 {
		return
	}
	ids, owners, teams, merged := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	deleted, versions := make([]bool, n), make([]int64, n)
	for i, ch := range changes {
		c := ch.Customer
		ids[i], owners[i], teams[i], deleted[i], merged[i], versions[i] =
			c.GetCustomerId(), c.GetOwnerId(), c.GetTeamId(), c.GetDeleteTime() != nil, c.GetMergedInto(), ch.Version
	}
	b.Queue(`INSERT INTO customer_refs (customer_id, owner_id, team_id, deleted, merged_into, version)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::bigint[])
		ON CONFLICT (customer_id) DO UPDATE SET owner_id = excluded.owner_id, team_id = excluded.team_id,
			deleted = excluded.deleted, merged_into = excluded.merged_into, version = excluded.version, updated_at = now()
		WHERE `+condition,
		ids, owners, teams, deleted, merged, versions)
}

// ChangeSubjects are the subjects of the events of the customer service that change an existing
// customer: all its customer events but customer.created, by name (one per action the customer
// service's store.Actions lists; its TestProjectionsHearEveryChangeButCreation keeps the two in
// step). A NATS filter cannot say "all but one".
var ChangeSubjects = []string{
	"crm.customer.customer.updated",
	"crm.customer.customer.status_changed",
	"crm.customer.customer.deleted",
	"crm.customer.customer.undeleted",
}

// Consume keeps the projection up to date from the customer events until ctx is done, with a
// durable consumer of the given name (e.g. "followup-customers").
//
// It does not hear of new customers (ChangeSubjects leaves customer.created out): the projection
// holds the customers the service has looked up (Get asks the customer service the first time)
// and follows their changes, not every customer there is. A service whose records all went
// through Get, as follow-ups, needs and feedback do, needs no more; hearing every creation cost
// each of them a delivery, a decode and an upsert of every new customer (see ADR 0005). A change
// of a customer the service never looked up is stored all the same: it costs a row, and it is
// what keeps a lookup that races the change from storing the older state.
//
// Events that arrive faster than they are applied are applied in batches (events.ConsumeBatch),
// one statement per batch: at a thousand customer changes a second, one upsert and one commit per
// event would cost each service that keeps a projection more than the change itself cost the
// customer service.
func (p *Projection) Consume(ctx context.Context, js jetstream.JetStream, nc *nats.Conn, durable string, log *slog.Logger) error {
	return events.ConsumeBatch(ctx, js, nc, events.ConsumerConfig{
		Durable:           durable,
		FilterSubjects:    ChangeSubjects,
		ChangedFieldsOnly: true,
	}, p.ApplyBatch, func(_ context.Context, seq uint64, _ *jetstream.RawStreamMsg, reason string) error {
		// A customer event the projection cannot apply is logged; the next event of that customer
		// (or an API lookup) repairs the row.
		log.Error("customer event dropped from projection", "stream_seq", seq, "reason", reason)
		return nil
	}, log)
}
