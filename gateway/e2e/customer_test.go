package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsuite/crm/pkg/testkit"
)

type customerResp struct {
	CustomerID  string `json:"customerId"`
	Name        string `json:"name"`
	Mobile      string `json:"mobile"`
	OwnerID     string `json:"ownerId"`
	Etag        string `json:"etag"`
	Status      string `json:"status"`
	ContactName string `json:"contactName"`
	Address     struct {
		Province string `json:"province"`
	} `json:"address"`
}

type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		Reason          string `json:"reason"`
		Locale          string `json:"locale"`
		Message         string `json:"message"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
			Reason      string `json:"reason"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func (e errorBody) violations() map[string]string {
	out := map[string]string{}
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			out[v.Field] = v.Description
		}
	}
	return out
}

func (e errorBody) reason() string {
	for _, d := range e.Details {
		if strings.HasSuffix(d.Type, "google.rpc.ErrorInfo") {
			return d.Reason
		}
	}
	return ""
}

type auditEvent struct {
	EventID   string `json:"eventId"`
	EventType string `json:"eventType"`
	EntityID  string `json:"entityId"`
	Changes   []struct {
		Field  string `json:"field"`
		Before any    `json:"before"`
		After  any    `json:"after"`
	} `json:"changes"`
}

func TestCustomerLifecycleThroughREST(t *testing.T) {
	s := startSuite(t, testkit.StartNATS(t))
	admin := s.token(t, "u-admin", "hq", "admin")
	sales1 := s.token(t, "u-sales1", "east", "sales")
	sales2 := s.token(t, "u-sales2", "east", "sales")

	// Create as a sales rep: the rep owns it; the mobile is stored normalised.
	body := customerJSON(1)
	body["mobile"] = "+86 186 0000 0001"
	var c customerResp
	s.do(t, sales1, http.MethodPost, "/v1/customers", body, http.StatusOK, &c)
	if !strings.HasPrefix(c.CustomerID, "CUST-") || c.OwnerID != "u-sales1" || c.Mobile != "18600000001" ||
		c.Status != "CUSTOMER_STATUS_POTENTIAL" || c.Address.Province != "四川省" {
		t.Fatalf("created %+v", c)
	}

	// Invalid input: every failing field, Chinese by default, English on request; nothing stored.
	bad := customerJSON(2)
	bad["mobile"], bad["name"], bad["uscc"] = "1234", "待确认", "91440300192176077Q"
	var eb errorBody
	s.do(t, sales1, http.MethodPost, "/v1/customers", bad, http.StatusBadRequest, &eb)
	v := eb.violations()
	if !strings.Contains(v["mobile"], "联系方式格式错误") || v["name"] == "" || v["uscc"] == "" {
		t.Fatalf("violations (zh) = %v", v)
	}
	s.do(t, sales1, http.MethodPost, "/v1/customers", bad, http.StatusBadRequest, &eb, "Accept-Language", "en-US,en;q=0.9")
	if v := eb.violations(); !strings.Contains(v["mobile"], "mobile") {
		t.Fatalf("violations (en) = %v", v)
	}

	// Other reps do not see it; list and search find it for its owner.
	s.do(t, sales2, http.MethodGet, "/v1/customers/"+c.CustomerID, nil, http.StatusNotFound, nil)
	var list struct {
		Customers     []customerResp `json:"customers"`
		NextPageToken string         `json:"nextPageToken"`
	}
	s.do(t, sales1, http.MethodGet, "/v1/customers?filter="+url.QueryEscape(`province = "四川" AND type = ENTERPRISE`), nil, http.StatusOK, &list)
	if len(list.Customers) != 1 || list.Customers[0].CustomerID != c.CustomerID {
		t.Fatalf("list = %+v", list)
	}
	list.Customers = nil
	s.do(t, sales2, http.MethodGet, "/v1/customers", nil, http.StatusOK, &list)
	if len(list.Customers) != 0 {
		t.Fatalf("sales2 lists %+v", list)
	}
	list.Customers = nil
	s.do(t, sales1, http.MethodGet, "/v1/customers:search?query="+url.QueryEscape("软件科技"), nil, http.StatusOK, &list)
	if len(list.Customers) != 1 {
		t.Fatalf("search = %+v", list)
	}

	// Update with the current etag; the same etag again is a conflict.
	// The caller's trace continues through the gateway and the service into the audit record.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	var updated customerResp
	s.do(t, sales1, http.MethodPatch, "/v1/customers/"+c.CustomerID+"?updateMask=mobile",
		map[string]any{"mobile": "18611112222", "etag": c.Etag}, http.StatusOK, &updated,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if updated.Mobile != "18611112222" || updated.Etag == c.Etag {
		t.Fatalf("updated %+v", updated)
	}
	changedAt := time.Now()
	s.do(t, sales1, http.MethodPatch, "/v1/customers/"+c.CustomerID+"?updateMask=mobile",
		map[string]any{"mobile": "18633334444", "etag": c.Etag}, http.StatusConflict, &eb)
	if eb.reason() != "ETAG_MISMATCH" {
		t.Fatalf("stale etag reason %q", eb.reason())
	}

	// The change reaches the audit log with before and after, within a second.
	history := func() []auditEvent {
		var h struct {
			Entries []auditEvent `json:"entries"`
		}
		s.do(t, sales1, http.MethodGet, "/v1/customers/"+c.CustomerID+"/history", nil, http.StatusOK, &h)
		return h.Entries
	}
	lag := waitFor(t, 5*time.Second, "the update in the history", func() bool { return len(history()) >= 2 })
	if lag > time.Second {
		t.Errorf("update took %v to reach the audit log", lag)
	}
	t.Logf("commit → audit history visible after %v (since %v)", lag, time.Since(changedAt))
	h := history()
	if h[0].EventType != "customer.updated" || h[1].EventType != "customer.created" {
		t.Fatalf("history = %+v", h)
	}
	found := false
	for _, ch := range h[0].Changes {
		if ch.Field == "mobile" && ch.Before == "18600000001" && ch.After == "18611112222" {
			found = true
		}
	}
	if !found {
		t.Fatalf("mobile change not in %+v", h[0].Changes)
	}

	var traced struct {
		AuditEvents []struct {
			EventType string `json:"eventType"`
			TraceID   string `json:"traceId"`
		} `json:"auditEvents"`
	}
	s.do(t, admin, http.MethodGet, "/v1/auditEvents?eventType=customer.updated&entityId="+c.CustomerID, nil, http.StatusOK, &traced)
	if len(traced.AuditEvents) != 1 || traced.AuditEvents[0].TraceID != traceID {
		t.Fatalf("audit record of the update = %+v, want trace id %s", traced.AuditEvents, traceID)
	}

	// Delete needs a reason and an admin; afterwards the customer is gone for its owner.
	s.do(t, sales1, http.MethodDelete, "/v1/customers/"+c.CustomerID+"?reason="+url.QueryEscape("重复录入"), nil, http.StatusForbidden, nil)
	s.do(t, admin, http.MethodDelete, "/v1/customers/"+c.CustomerID, nil, http.StatusBadRequest, nil)
	s.do(t, admin, http.MethodDelete, "/v1/customers/"+c.CustomerID+"?reason="+url.QueryEscape("重复录入，见工单 123"), nil, http.StatusOK, nil)
	s.do(t, sales1, http.MethodGet, "/v1/customers/"+c.CustomerID, nil, http.StatusNotFound, nil)
	var restored customerResp
	s.do(t, admin, http.MethodPost, "/v1/customers/"+c.CustomerID+":undelete", map[string]any{}, http.StatusOK, &restored)
	s.do(t, sales1, http.MethodGet, "/v1/customers/"+c.CustomerID, nil, http.StatusOK, nil)

	// The global audit log (admins) has every change of the customer.
	waitFor(t, 5*time.Second, "four audit records", func() bool {
		var resp struct {
			AuditEvents []auditEvent `json:"auditEvents"`
		}
		s.do(t, admin, http.MethodGet, "/v1/auditEvents?entityId="+c.CustomerID, nil, http.StatusOK, &resp)
		var types []string
		for _, e := range resp.AuditEvents {
			types = append(types, e.EventType)
		}
		return slices.Equal(types, []string{"customer.undeleted", "customer.deleted", "customer.updated", "customer.created"})
	})
	s.do(t, sales1, http.MethodGet, "/v1/auditEvents", nil, http.StatusForbidden, nil)
	var verify struct {
		OK      bool   `json:"ok"`
		Checked string `json:"checked"`
	}
	s.do(t, admin, http.MethodPost, "/v1/auditEvents:verify", map[string]any{}, http.StatusOK, &verify)
	if !verify.OK {
		t.Fatalf("audit chain broken: %+v", verify)
	}

	// Without a token nothing is served.
	s.do(t, "", http.MethodGet, "/v1/customers", nil, http.StatusUnauthorized, nil)
}

func TestEventsSurviveNATSOutage(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	ns := testkit.StartNATSAt(t, port, dir)
	s := startSuite(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	admin := s.token(t, "u-admin", "hq", "admin")

	var first customerResp
	s.do(t, admin, http.MethodPost, "/v1/customers", customerJSON(100), http.StatusOK, &first)
	auditIDs := func() map[string]int {
		var resp struct {
			AuditEvents []auditEvent `json:"auditEvents"`
		}
		s.do(t, admin, http.MethodGet, "/v1/auditEvents?entityType=customer&pageSize=500", nil, http.StatusOK, &resp)
		counts := map[string]int{}
		for _, e := range resp.AuditEvents {
			counts[e.EventID]++
			counts["entity:"+e.EntityID]++
		}
		return counts
	}
	waitFor(t, 10*time.Second, "the first event in the audit log", func() bool { return auditIDs()["entity:"+first.CustomerID] == 1 })

	// NATS goes away: creates still succeed, their events wait in the outbox.
	ns.Shutdown()
	ns.WaitForShutdown()
	const n = 20
	var created []string
	for i := range n {
		var c customerResp
		s.do(t, admin, http.MethodPost, "/v1/customers", customerJSON(200+i), http.StatusOK, &c)
		created = append(created, c.CustomerID)
	}

	// NATS comes back with its data: every event reaches the audit log exactly once.
	testkit.StartNATSAt(t, port, dir)
	waitFor(t, 60*time.Second, "all events after the outage", func() bool {
		ids := auditIDs()
		for _, id := range created {
			if ids["entity:"+id] == 0 {
				return false
			}
		}
		return true
	})
	ids := auditIDs()
	events := 0
	for k, v := range ids {
		if strings.HasPrefix(k, "entity:") {
			if v != 1 {
				t.Errorf("%s has %d audit records, want 1", k, v)
			}
			continue
		}
		events++
		if v != 1 {
			t.Errorf("event %s recorded %d times", k, v)
		}
	}
	if events != n+1 {
		t.Fatalf("%d distinct events in the audit log, want %d", events, n+1)
	}
}
