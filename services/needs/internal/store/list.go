package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crmsuite/crm/services/needs/internal/need"
)

// Cursor is the position after the last row of a page: the sort value and the id.
type Cursor struct {
	Value string
	ID    string
}

// ListInput selects one page of needs.
type ListInput struct {
	Reach      Reach
	Conditions []need.Condition
	Order      need.Order
	PageSize   int
	After      *Cursor
}

// conditionColumns maps filter fields to columns; only these names ever reach the SQL text.
var conditionColumns = map[string]string{
	"customer_id": "n.customer_id", "owner_id": "n.owner_id", "team_id": "r.team_id", "stage": "n.stage",
	"type": "n.type", "expected_close_date": "n.expected_close_date", "create_time": "n.created_at",
	"update_time": "n.updated_at",
}

// noCloseDate is where needs without an expected close date sort.
const noCloseDate = "9999-12-31"

var orderColumns = map[string]string{
	"create_time": "n.created_at", "update_time": "n.updated_at",
	"expected_close_date": "coalesce(n.expected_close_date, DATE '" + noCloseDate + "')",
}

// List returns one page of live needs within reach and the cursor of the next page (nil on the
// last page). Pages are keyset based: (sort value, id) compared with the cursor, never OFFSET.
func (s *Store) List(ctx context.Context, in ListInput) ([]*need.Need, *Cursor, error) {
	var args []any
	where := []string{in.Reach.where(&args), "n.deleted_at IS NULL"}
	for _, c := range in.Conditions {
		col, ok := conditionColumns[c.Field]
		if !ok {
			return nil, nil, fmt.Errorf("unknown filter field %q", c.Field)
		}
		var v any = c.Value
		if !c.Time.IsZero() {
			v = c.Time
		}
		args = append(args, v)
		where = append(where, fmt.Sprintf("%s %s $%d", col, sqlOp(c.Op), len(args)))
	}
	col, ok := orderColumns[in.Order.Field]
	if !ok {
		return nil, nil, fmt.Errorf("unknown order %q", in.Order.Field)
	}
	dir, cmp := "ASC", ">"
	if in.Order.Desc {
		dir, cmp = "DESC", "<"
	}
	if in.After != nil {
		layout := time.RFC3339Nano
		if in.Order.Field == "expected_close_date" {
			layout = time.DateOnly
		}
		t, err := time.Parse(layout, in.After.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("cursor value: %w", err)
		}
		args = append(args, t, in.After.ID)
		where = append(where, fmt.Sprintf("(%s, n.id) %s ($%d, $%d)", col, cmp, len(args)-1, len(args)))
	}
	args = append(args, in.PageSize+1)
	q := fmt.Sprintf(`%s WHERE %s ORDER BY %s %s, n.id %s LIMIT $%d`, selectFrom, strings.Join(where, " AND "), col, dir, dir, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("list needs: %w", err)
	}
	defer rows.Close()
	var out []*need.Need
	for rows.Next() {
		n, err := scanNeed(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list needs: %w", err)
	}
	if len(out) <= in.PageSize {
		return out, nil, nil
	}
	out = out[:in.PageSize]
	last := out[len(out)-1]
	next := &Cursor{ID: last.ID}
	switch in.Order.Field {
	case "create_time":
		next.Value = last.CreatedAt.Format(time.RFC3339Nano)
	case "update_time":
		next.Value = last.UpdatedAt.Format(time.RFC3339Nano)
	default:
		next.Value = noCloseDate
		if last.CloseDate != nil {
			next.Value = last.CloseDate.String()
		}
	}
	return out, next, nil
}

// sqlOp maps a filter operator to SQL. != is IS DISTINCT FROM, so that "expected_close_date !=
// X" also finds needs without a date.
func sqlOp(op string) string {
	if op == "!=" {
		return "IS DISTINCT FROM"
	}
	return op
}

// StageChanges returns one page of a need's stage history, oldest first, after the entry with id
// afterID (0 for the first page), and the id to continue after (0 on the last page). A need out of
// reach is need.ErrNotFound.
func (s *Store) StageChanges(ctx context.Context, needID string, reach Reach, pageSize int, afterID int64) ([]need.StageChange, int64, error) {
	if _, err := s.Get(ctx, needID, reach); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, need_id, from_stage, to_stage, reason, reopened, changed_at, changed_by
		FROM need_stage_changes WHERE need_id = $1 AND id > $2 ORDER BY id LIMIT $3`, needID, afterID, pageSize+1)
	if err != nil {
		return nil, 0, fmt.Errorf("list stage changes: %w", err)
	}
	defer rows.Close()
	var out []need.StageChange
	for rows.Next() {
		var c need.StageChange
		var from, to string
		if err := rows.Scan(&c.ID, &c.NeedID, &from, &to, &c.Reason, &c.Reopened, &c.ChangedAt, &c.ChangedBy); err != nil {
			return nil, 0, fmt.Errorf("list stage changes: %w", err)
		}
		c.From, c.To = need.Stage(from), need.Stage(to)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list stage changes: %w", err)
	}
	if len(out) <= pageSize {
		return out, 0, nil
	}
	out = out[:pageSize]
	return out, out[pageSize-1].ID, nil
}

// PipelineInput selects the needs the pipeline sums.
type PipelineInput struct {
	Reach Reach
	// OwnerID and TeamID narrow the pipeline to one owner's needs and one team's customers.
	OwnerID, TeamID string
	// CloseFrom and CloseTo bound the expected close date (inclusive) when set.
	CloseFrom, CloseTo *need.Date
}

// Pipeline counts the live needs within reach per owner and stage and sums their expected amounts
// in fen, exactly (PostgreSQL sums bigint as numeric; a sum beyond bigint is an error, not a
// wrapped number). Needs of deleted customers are left out whatever the reach.
func (s *Store) Pipeline(ctx context.Context, in PipelineInput) ([]need.PipelineRow, error) {
	reach := in.Reach
	reach.DeletedCustomers = false
	var args []any
	where := []string{reach.where(&args), "n.deleted_at IS NULL"}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if in.OwnerID != "" {
		add("n.owner_id = $%d", in.OwnerID)
	}
	if in.TeamID != "" {
		add("r.team_id = $%d", in.TeamID)
	}
	if in.CloseFrom != nil {
		add("n.expected_close_date >= $%d", in.CloseFrom.Time())
	}
	if in.CloseTo != nil {
		add("n.expected_close_date <= $%d", in.CloseTo.Time())
	}
	rows, err := s.pool.Query(ctx, `SELECT n.owner_id, n.stage, count(*), coalesce(sum(n.expected_amount_fen), 0)::bigint
		FROM needs n JOIN customer_refs r ON r.customer_id = n.customer_id
		WHERE `+strings.Join(where, " AND ")+`
		GROUP BY n.owner_id, n.stage ORDER BY n.owner_id, n.stage`, args...)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	defer rows.Close()
	var out []need.PipelineRow
	for rows.Next() {
		var r need.PipelineRow
		var stage string
		if err := rows.Scan(&r.OwnerID, &stage, &r.Count, &r.AmountFen); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		r.Stage = need.Stage(stage)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return out, nil
}
