package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsuite/crm/services/feedback/internal/feedback"
)

// Cursor is the position after the last row of a page: the sort value (an RFC 3339 time) and the id.
type Cursor struct {
	Value string
	ID    string
}

// ListInput selects one page of feedback.
type ListInput struct {
	Reach Reach
	// CustomerID, when set, limits the list to one customer's feedback.
	CustomerID string
	Conditions []feedback.Condition
	Order      feedback.Order
	PageSize   int
	After      *Cursor
	// Now is the time overdue is judged at.
	Now time.Time
}

// conditionColumns maps filter fields to columns; only these names ever reach the SQL text.
var conditionColumns = map[string]string{
	"customer_id": "f.customer_id", "type": "f.type", "channel": "f.channel", "status": "f.status",
	"handler_id": "f.handler_id", "create_time": "f.created_at",
}

var orderColumns = map[string]string{"create_time": "created_at", "update_time": "updated_at"}

// overdueSQL is feedback.Overdue in SQL, with the time at parameter n: a complaint still
// unanswered past its deadline, or first answered after it. It is never NULL.
func overdueSQL(n int) string {
	return fmt.Sprintf(`(f.response_deadline IS NOT NULL AND CASE WHEN f.first_response_at IS NULL
		THEN f.response_deadline < $%d ELSE f.first_response_at > f.response_deadline END)`, n)
}

// List returns one page of live feedback and the cursor of the next page (nil on the last page).
// Pages are keyset based: (sort column, id) compared with the cursor, never OFFSET.
func (s *Store) List(ctx context.Context, in ListInput) ([]*feedback.Feedback, *Cursor, error) {
	var args []any
	where := []string{in.Reach.where(&args), "f.deleted_at IS NULL"}
	if in.CustomerID != "" {
		args = append(args, in.CustomerID)
		where = append(where, fmt.Sprintf("f.customer_id = $%d", len(args)))
	}
	for _, c := range in.Conditions {
		if c.Field == "overdue" {
			args = append(args, in.Now)
			cond := overdueSQL(len(args))
			if (c.Value == "true") != (c.Op == "=") {
				cond = "NOT " + cond
			}
			where = append(where, cond)
			continue
		}
		col, ok := conditionColumns[c.Field]
		if !ok {
			return nil, nil, fmt.Errorf("unknown filter field %q", c.Field)
		}
		if !c.Time.IsZero() {
			args = append(args, c.Time)
		} else {
			args = append(args, c.Value)
		}
		where = append(where, fmt.Sprintf("%s %s $%d", col, sqlOp(c.Op), len(args)))
	}
	col := "f." + orderColumns[in.Order.Field]
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
	q := fmt.Sprintf(`SELECT %s%s WHERE %s ORDER BY %s %s, f.id %s LIMIT $%d`,
		selectColumns, from, strings.Join(where, " AND "), col, dir, dir, len(args))
	list, err := s.query(ctx, q, args)
	if err != nil {
		return nil, nil, err
	}
	return page(list, in.PageSize, func(f *feedback.Feedback) time.Time {
		if in.Order.Field == "update_time" {
			return f.UpdatedAt
		}
		return f.CreatedAt
	})
}

// OverdueInput selects one page of overdue complaints.
type OverdueInput struct {
	Reach    Reach
	Now      time.Time
	PageSize int
	After    *Cursor
}

// ListOverdue returns live complaints nobody has responded to whose deadline passed before
// in.Now, the earliest deadline first, and the cursor of the next page.
func (s *Store) ListOverdue(ctx context.Context, in OverdueInput) ([]*feedback.Feedback, *Cursor, error) {
	args := []any{in.Now}
	where := []string{in.Reach.where(&args),
		"f.deleted_at IS NULL", "f.response_deadline IS NOT NULL", "f.first_response_at IS NULL", "f.response_deadline < $1"}
	if in.After != nil {
		t, err := time.Parse(time.RFC3339Nano, in.After.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("cursor time: %w", err)
		}
		args = append(args, t, in.After.ID)
		where = append(where, fmt.Sprintf("(f.response_deadline, f.id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, in.PageSize+1)
	q := fmt.Sprintf(`SELECT %s%s WHERE %s ORDER BY f.response_deadline, f.id LIMIT $%d`,
		selectColumns, from, strings.Join(where, " AND "), len(args))
	list, err := s.query(ctx, q, args)
	if err != nil {
		return nil, nil, err
	}
	return page(list, in.PageSize, func(f *feedback.Feedback) time.Time { return *f.ResponseDeadline })
}

func (s *Store) query(ctx context.Context, q string, args []any) ([]*feedback.Feedback, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list feedback: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*feedback.Feedback, error) { return scanFeedback(row) })
}

// page cuts one extra row off a list and turns the last kept row into the next cursor.
func page(list []*feedback.Feedback, size int, key func(*feedback.Feedback) time.Time) ([]*feedback.Feedback, *Cursor, error) {
	if len(list) <= size {
		return list, nil, nil
	}
	list = list[:size]
	last := list[len(list)-1]
	return list, &Cursor{Value: key(last).UTC().Format(time.RFC3339Nano), ID: last.ID}, nil
}

func sqlOp(op string) string {
	if op == "!=" {
		return "<>"
	}
	return op
}
