// Command feedback runs the feedback service (客户反馈与投诉): the gRPC FeedbackService, its outbox
// relay to NATS JetStream, and the customer projection fed by the customer service's events.
//
//	feedback           serve (the default)
//	feedback migrate   apply the database migrations and exit
//
// Configuration (environment): DATABASE_URL, NATS_URL, NATS_REPLICAS, FEEDBACK_GRPC_ADDR (default
// 127.0.0.1:9106), CUSTOMER_GRPC_ADDR (default 127.0.0.1:9101), FEEDBACK_COMPLAINT_SLA (the
// response time of complaints, default 24h), AUTH_HS256_SECRET or AUTH_JWKS_URL, AUTH_ISSUER,
// AUTH_AUDIENCE, SERVICE_TOKEN, OTEL_EXPORTER_OTLP_ENDPOINT, LOG_FORMAT, LOG_LEVEL.
package main

import (
	"context"
	"fmt"

	"github.com/crmsuite/crm/pkg/config"
	"github.com/crmsuite/crm/pkg/customerref"
	"github.com/crmsuite/crm/pkg/export"
	"github.com/crmsuite/crm/pkg/service"
	customerv1 "github.com/crmsuite/crm/proto/gen/go/crm/customer/v1"
	feedbackv1 "github.com/crmsuite/crm/proto/gen/go/crm/feedback/v1"
	"github.com/crmsuite/crm/services/feedback/internal/feedback"
	"github.com/crmsuite/crm/services/feedback/internal/server"
	"github.com/crmsuite/crm/services/feedback/internal/store"
)

func main() {
	service.Main(service.Spec{
		Name: "feedback", Schema: store.Schema, Migrate: store.Migrate,
		AddrEnv: "FEEDBACK_GRPC_ADDR", DefaultAddr: "127.0.0.1:9106",
		Domain: server.Domain, Policy: server.Policy,
		Setup: func(_ context.Context, d *service.Deps) ([]func(context.Context) error, error) {
			sla := config.Duration("FEEDBACK_COMPLAINT_SLA", feedback.DefaultComplaintSLA)
			if sla <= 0 {
				return nil, fmt.Errorf("FEEDBACK_COMPLAINT_SLA must be positive, got %s", sla)
			}
			d.Log.Info("complaint response deadline", "sla", sla.String())
			conn, err := d.Dial("CUSTOMER_GRPC_ADDR", "127.0.0.1:9101")
			if err != nil {
				return nil, err
			}
			customers := customerref.New(d.Pool, customerv1.NewCustomerServiceClient(conn), d.Auth.SystemToken)
			exporter := &export.Exporter{Pool: d.Pool, Customers: customerv1.NewCustomerTransferServiceClient(conn), Log: d.Log}
			feedbackv1.RegisterFeedbackServiceServer(d.Server, server.New(store.New(d.Pool, server.EventData), customers, exporter, sla))
			return []func(context.Context) error{
				func(ctx context.Context) error {
					return customers.Consume(ctx, d.JS, d.NC, "feedback-customers", d.Log)
				},
			}, nil
		},
	})
}
