package feedback

import (
	"strings"

	"github.com/crmsuite/crm/pkg/listquery"
)

// Condition is one `field op value` term of a list filter. Value is canonical: enum values in the
// domain's spelling, customer ids upper-case, "true"/"false" for overdue; Time is set for times.
type Condition = listquery.Condition

// filterFields are the fields ListFeedback filters on.
var filterFields = map[string]listquery.Field{
	"customer_id": {Kind: listquery.Text, Canon: func(v string) (string, bool) { return strings.ToUpper(v), true }},
	"handler_id":  {Kind: listquery.Text},
	"type":        {Kind: listquery.Enum, Canon: listquery.EnumCanon("FEEDBACK_TYPE_", Types)},
	"channel":     {Kind: listquery.Enum, Canon: listquery.EnumCanon("FEEDBACK_CHANNEL_", Channels)},
	"status":      {Kind: listquery.Enum, Canon: listquery.EnumCanon("FEEDBACK_STATUS_", Statuses)},
	"overdue":     {Kind: listquery.Bool},
	"create_time": {Kind: listquery.Time},
}

// ParseFilter parses a list filter: terms `field op value` joined by AND (an AIP-160 subset).
func ParseFilter(s string) ([]Condition, error) { return listquery.Parse(s, filterFields) }

// Order is a list ordering.
type Order = listquery.Order

// ParseOrder parses order_by: `create_time` or `update_time`, optionally followed by ` desc` or
// ` asc`. The default is create_time desc, newest first.
func ParseOrder(s string) (Order, error) {
	return listquery.ParseOrder(s, []string{"create_time", "update_time"}, Order{Field: "create_time", Desc: true})
}
