package customer

import (
	"slices"
	"strings"

	"github.com/crmsuite/crm/pkg/listquery"
	"github.com/crmsuite/crm/pkg/validate"
)

// Condition is one `field op value` term of a list filter, with its value in canonical form.
type Condition = listquery.Condition

// scaleNames maps the API's scale enum suffixes to the domain's bands.
var scaleNames = map[string]Scale{
	"1_TO_50": Scale1To50, "51_TO_200": Scale51To200, "201_TO_500": Scale201To500, "501_TO_1000": Scale501To1000,
	"OVER_1000": ScaleOver1000, "INDIVIDUAL_STANDARD": ScaleIndividualStd, "INDIVIDUAL_PREMIUM": ScaleIndividualPremium,
}

// filterFields are the fields ListCustomers filters on.
var filterFields = map[string]listquery.Field{
	"type":   {Kind: listquery.Enum, Canon: listquery.EnumCanon("CUSTOMER_TYPE_", Types)},
	"status": {Kind: listquery.Enum, Canon: listquery.EnumCanon("CUSTOMER_STATUS_", Statuses)},
	"source": {Kind: listquery.Enum, Canon: listquery.EnumCanon("CUSTOMER_SOURCE_", Sources)},
	"scale": {Kind: listquery.Enum, Canon: func(v string) (string, bool) {
		if s, ok := scaleNames[strings.TrimPrefix(strings.ToUpper(v), "SCALE_")]; ok {
			return string(s), true
		}
		return v, slices.Contains(Scales, Scale(v))
	}},
	"industry": {Kind: listquery.Text, Canon: func(v string) (string, bool) {
		ind, ok := validate.LookupIndustry(v)
		return ind.Code, ok
	}},
	"province": {Kind: listquery.Text, Canon: func(v string) (string, bool) {
		if p, ok := validate.Province(v); ok {
			return p, true
		}
		return v, true
	}},
	"owner_id": {Kind: listquery.Text}, "team_id": {Kind: listquery.Text}, "city": {Kind: listquery.Text},
	"create_time": {Kind: listquery.Time}, "update_time": {Kind: listquery.Time},
}

// ParseFilter parses a ListCustomers filter: terms `field op value` joined by AND.
func ParseFilter(s string) ([]Condition, error) { return listquery.Parse(s, filterFields) }

// Order is a list ordering.
type Order = listquery.Order

// ParseOrder parses order_by: `create_time`, `update_time` or `name`, optionally followed by ` desc`
// or ` asc`. The default is create_time desc.
func ParseOrder(s string) (Order, error) {
	return listquery.ParseOrder(s, []string{"create_time", "update_time", "name"}, Order{Field: "create_time", Desc: true})
}
