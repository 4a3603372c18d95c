package store_test

import (
	"slices"
	"testing"

	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/events"
	eventsv1 "github.com/crmsuite/crm/proto/gen/go/crm/events/v1"
	"github.com/crmsuite/crm/services/customer/internal/store"
)

// subject is where the store's events of a customer with this action are published: the
// subject events.New and events.Subject give them, not a copy of their scheme.
func subject(action string) string {
	return events.Subject(&eventsv1.Event{Source: store.Schema, Type: "customer." + action})
}

// Other services' customer projections subscribe to the customer events by subject, one per
// action, all but the creation: an action added here without its subject there would change
// customers behind their backs (an owner they never hear of, a deletion they miss).
func TestProjectionsHearEveryChangeButCreation(t *testing.T) {
	for _, action := range store.Actions {
		heard := slices.Contains(customerref.ChangeSubjects, subject(action))
		if action == store.ActionCreated && heard {
			t.Errorf("customerref.ChangeSubjects has %s; projections fill themselves on first use instead", subject(action))
		}
		if action != store.ActionCreated && !heard {
			t.Errorf("customerref.ChangeSubjects lacks %s", subject(action))
		}
	}
	for _, s := range customerref.ChangeSubjects {
		if !slices.ContainsFunc(store.Actions, func(a string) bool { return subject(a) == s }) {
			t.Errorf("customerref.ChangeSubjects has %s, which the customer service never publishes", s)
		}
	}
}
