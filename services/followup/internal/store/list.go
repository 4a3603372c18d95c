package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/pkg/pgdb"
	"github.com/crmsuite/crm/services/followup/internal/followup"
)

// Cursor is the position after the last row of a page: the sort value and the id.
type Cursor struct {
	Value string
	ID    string
}

// ListInput selects one page of live records.
type ListInput struct {
	Reach Reach
	// CustomerID, when set, lists one customer's records.
	CustomerID string
	// OwnerID, when set, lists one owner's records.
	OwnerID    string
	Conditions []followup.Condition
	Order      followup.Order
	PageSize   int
	After      *Cursor
}

// conditionColumns maps filter fields to columns; only these names ever reach the SQL text.
var conditionColumns = map[string]string{
	"method": "f.method", "kind": "f.kind", "done": "f.done", "owner_id": "f.owner_id",
	"customer_id": "f.customer_id", "contact_time": "f.contact_time",
}

var orderColumns = map[string]string{"contact_time": "f.contact_time", "create_time": "f.created_at", "update_time": "f.updated_at"}

// List returns one page of records and the cursor of the next page (nil on the last page).
// Pages are keyset based: (sort column, id) compared with the cursor, never OFFSET.
func (s *Store) List(ctx context.Context, in ListInput) ([]*followup.FollowUp, *Cursor, error) {
	var args []any
	where := []string{"f.deleted_at IS NULL", in.Reach.where(&args)}
	if in.CustomerID != "" {
		args = append(args, in.CustomerID)
		where = append(where, fmt.Sprintf("f.customer_id = $%d", len(args)))
	}
	if in.OwnerID != "" {
		args = append(args, in.OwnerID)
		where = append(where, fmt.Sprintf("f.owner_id = $%d", len(args)))
	}
	for _, c := range in.Conditions {
		col, ok := conditionColumns[c.Field]
		if !ok {
			return nil, nil, fmt.Errorf("unknown filter field %q", c.Field)
		}
		var v any = c.Value
		switch {
		case c.Field == "contact_time":
			v = c.Time
		case c.Field == "done":
			v = c.Value == "true"
		}
		args = append(args, v)
		where = append(where, fmt.Sprintf("%s %s $%d", col, sqlOp(c.Op), len(args)))
	}
	col, ok := orderColumns[in.Order.Field]
	if !ok {
		return nil, nil, fmt.Errorf("unknown order field %q", in.Order.Field)
	}
	dir, cmp := "ASC", ">"
	if in.Order.Desc {
		dir, cmp = "DESC", "<"
	}
	if in.After != nil {
		t, err := time.Parse(time.RFC3339Nano, in.After.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("cursor time: %w", err)
		}
		args = append(args, t, in.After.ID)
		where = append(where, fmt.Sprintf("(%s, f.id) %s ($%d, $%d)", col, cmp, len(args)-1, len(args)))
	}
	args = append(args, in.PageSize+1)
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s %s, f.id %s LIMIT $%d`,
		selectColumns, from, strings.Join(where, " AND "), col, dir, dir, len(args))
	out, err := s.query(ctx, q, args)
	if err != nil {
		return nil, nil, fmt.Errorf("list follow-ups: %w", err)
	}
	if len(out) <= in.PageSize {
		return out, nil, nil
	}
	out = out[:in.PageSize]
	last := out[len(out)-1]
	next := &Cursor{ID: last.ID}
	switch in.Order.Field {
	case "create_time":
		next.Value = last.CreatedAt.UTC().Format(time.RFC3339Nano)
	case "update_time":
		next.Value = last.UpdatedAt.UTC().Format(time.RFC3339Nano)
	default:
		next.Value = last.ContactTime.UTC().Format(time.RFC3339Nano)
	}
	return out, next, nil
}

func sqlOp(op string) string {
	if op == "!=" {
		return "<>"
	}
	return op
}

// DueInput selects one page of pending next actions.
type DueInput struct {
	// Reach limits the customers; records of deleted customers are never listed as due.
	Reach Reach
	// OwnerID, when set, lists one owner's next actions.
	OwnerID string
	// Until is the last due date listed (inclusive); there is no lower bound, so overdue actions
	// are always included.
	Until    followup.Date
	PageSize int
	After    *Cursor
}

// ListDue returns one page of live records whose next action is not done and due on or before
// in.Until, earliest due date first, and the cursor of the next page (nil on the last page).
func (s *Store) ListDue(ctx context.Context, in DueInput) ([]*followup.FollowUp, *Cursor, error) {
	reach := in.Reach
	reach.DeletedCustomers = false
	args := []any{in.Until.Time()}
	where := []string{"f.deleted_at IS NULL", "NOT f.done", "f.next_action_due IS NOT NULL", "f.next_action_due <= $1", reach.where(&args)}
	if in.OwnerID != "" {
		args = append(args, in.OwnerID)
		where = append(where, fmt.Sprintf("f.owner_id = $%d", len(args)))
	}
	if in.After != nil {
		d, err := followup.ParseDate(in.After.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("cursor date: %w", err)
		}
		args = append(args, d.Time(), in.After.ID)
		where = append(where, fmt.Sprintf("(f.next_action_due, f.id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, in.PageSize+1)
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY f.next_action_due, f.id LIMIT $%d`,
		selectColumns, from, strings.Join(where, " AND "), len(args))
	out, err := s.query(ctx, q, args)
	if err != nil {
		return nil, nil, fmt.Errorf("list due actions: %w", err)
	}
	if len(out) <= in.PageSize {
		return out, nil, nil
	}
	out = out[:in.PageSize]
	last := out[len(out)-1]
	return out, &Cursor{Value: last.NextActionDue.String(), ID: last.ID}, nil
}

func (s *Store) query(ctx context.Context, q string, args []any) ([]*followup.FollowUp, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*followup.FollowUp, error) { return scan(row) })
}

// Export calls fn with the live records of the given customers within reach, customer by customer
// in the order of customerIDs, each customer's latest contact first. The caller passes a page of
// customers at a time; rows are handed over as they arrive, so memory does not grow with them.
func (s *Store) Export(ctx context.Context, customerIDs []string, reach Reach, fn func(*followup.FollowUp) error) error {
	args := []any{customerIDs}
	q := fmt.Sprintf(`SELECT %s FROM unnest($1::text[]) WITH ORDINALITY AS c(id, ord)
		JOIN followups f ON f.customer_id = c.id JOIN customer_refs r ON r.customer_id = f.customer_id
		WHERE f.deleted_at IS NULL AND %s ORDER BY c.ord, f.contact_time DESC, f.id`, selectColumns, reach.where(&args))
	if err := pgdb.Each(ctx, s.pool, q, args, scan, fn); err != nil {
		return fmt.Errorf("export follow-ups: %w", err)
	}
	return nil
}
