package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/crmsuite/crm/pkg/events"
	"github.com/crmsuite/crm/pkg/testkit"
	commonv1 "github.com/crmsuite/crm/proto/gen/go/crm/common/v1"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
)

// TestCustomerEventsMoveFeedback runs the customer projection on embedded NATS, as main does:
// when the customer service reports a new owner, the feedback follows the customer; when it
// reports the customer deleted, no new feedback can be recorded but the old stays readable.
func TestCustomerEventsMoveFeedback(t *testing.T) {
	t.Parallel()
	e := start(t, 0)
	f := recorded(t, e) // about sales1's customer; the projection now holds it at version 1

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nc, js, _ := testkit.StartEventStream(t)
	done := make(chan error, 1)
	go func() {
		done <- e.refs.Consume(ctx, js, nc, "feedback-customers", slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	publish := func(version int64, c *customerv1.Customer) {
		t.Helper()
		c.CustomerId = custSales1
		ev, err := events.New(ctx, "customer", "customer", "updated", custSales1, &commonv1.Actor{UserId: "u-admin", Role: "admin"}, version, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		testkit.PublishEvent(t, js, ev)
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen within 10s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	get := func(user string) (*feedbackv1.Feedback, error) {
		return e.client.GetFeedback(as(t, user), &feedbackv1.GetFeedbackRequest{FeedbackId: f.GetFeedbackId()})
	}

	publish(5, &customerv1.Customer{OwnerId: "u-sales2", TeamId: "east"})
	eventually("the new owner seeing the feedback", func() bool {
		got, err := get("sales2")
		return err == nil && got.GetOwnerId() == "u-sales2"
	})
	if _, err := get("sales1"); status.Code(err) != codes.NotFound {
		t.Fatalf("the old owner still sees it: %v", err)
	}

	publish(6, &customerv1.Customer{OwnerId: "u-sales2", TeamId: "east", DeleteTime: timestamppb.Now()})
	eventually("the customer counting as deleted", func() bool {
		_, err := e.client.CreateFeedback(as(t, "sales2"), &feedbackv1.CreateFeedbackRequest{CustomerId: custSales1, Feedback: complaint()})
		return errorInfo(err).GetReason() == "CUSTOMER_DELETED"
	})
	if got, err := get("sales2"); err != nil || got.GetOwnerId() != "u-sales2" {
		t.Fatalf("feedback of the deleted customer: %v %v", got, err)
	}
}
