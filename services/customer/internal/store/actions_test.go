package store_test

import (
	"slices"
	"testing"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// Other services' customer projections subscribe to the customer events by subject, one per
// action, all but the creation: an action added here without its subject there would change
// customers behind their backs (an owner they never hear of, a deletion they miss).
func TestProjectionsHearEveryChangeButCreation(t *testing.T) {
	for _, action := range store.Actions {
		subject := "crm.customer.customer." + action
		heard := slices.Contains(customerref.ChangeSubjects, subject)
		if action == store.ActionCreated && heard {
			t.Errorf("customerref.ChangeSubjects has %s; projections fill themselves on first use instead", subject)
		}
		if action != store.ActionCreated && !heard {
			t.Errorf("customerref.ChangeSubjects lacks %s", subject)
		}
	}
	for _, subject := range customerref.ChangeSubjects {
		if !slices.ContainsFunc(store.Actions, func(a string) bool { return "crm.customer.customer."+a == subject }) {
			t.Errorf("customerref.ChangeSubjects has %s, which the customer service never publishes", subject)
		}
	}
}
