// Package telemetry owns process-wide observability set-up: the global
// OpenTelemetry tracer and meter providers, the W3C trace-context and baggage
// propagator, and the slog logger whose records carry the trace and span ids
// of the request they belong to.
//
// Setup is called once from main; libraries only use the otel globals and the
// logger they are given. It must not import service code, pgx or nats.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Setup installs the global OpenTelemetry tracer and meter providers and the
// W3C tracecontext+baggage propagator, describing the process as
// serviceName at version (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
// override).
//
// When OTEL_EXPORTER_OTLP_ENDPOINT (or the signal-specific
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) is
// set, traces and metrics are exported over OTLP/gRPC, configured by the
// standard OTEL_EXPORTER_OTLP_* variables. Otherwise spans are still created
// and sampled, so that trace ids appear in logs and event headers, but
// nothing is exported.
//
// The returned shutdown flushes and stops both providers; call it once on
// the way out, with a deadline.
func Setup(ctx context.Context, serviceName, version string) (shutdown func(context.Context) error, err error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(serviceName), semconv.ServiceVersion(version)),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exportEnabled("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: trace exporter: %w", err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if exportEnabled("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
		exp, err := otlpmetricgrpc.New(ctx)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("telemetry: metric exporter: %w", err), tp.Shutdown(ctx))
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	return func(ctx context.Context) error {
		// Both run even if the first fails: each flushes its own data.
		return errors.Join(tp.Shutdown(ctx), mp.Shutdown(ctx))
	}, nil
}

// exportEnabled reports whether an OTLP endpoint is configured for all
// signals or for the one named by signalVar.
func exportEnabled(signalVar string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv(signalVar) != ""
}
