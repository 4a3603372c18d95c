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
	metricnoop "go.opentelemetry.io/otel/metric/noop"
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
// standard OTEL_EXPORTER_OTLP_* variables.
//
// Without an exporter nothing is recorded, since nothing would read it (it
// cost 6–11 % of a service's CPU, docs/benchmarks.md): spans are not sampled,
// but each still has a trace id (the caller's, or a new one where a trace
// starts) and its own span id, so logs, outgoing traceparent headers and
// events keep carrying trace ids. They go out with the sampled flag cleared,
// so a downstream process that does export records these traces only if it
// samples unsampled parents. Metrics go to a no-op provider.
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
	} else {
		// The SDK still assigns ids to unsampled spans, unlike the no-op provider (which has no
		// ids for a trace that starts here); instrumentation skips its work for them (otelpgx
		// starts no query spans under an unrecorded parent).
		tpOpts = append(tpOpts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	shutdowns := []func(context.Context) error{tp.Shutdown}
	otel.SetTracerProvider(tp)

	if exportEnabled("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
		exp, err := otlpmetricgrpc.New(ctx)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("telemetry: metric exporter: %w", err), tp.Shutdown(ctx))
		}
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		shutdowns = append(shutdowns, mp.Shutdown)
		otel.SetMeterProvider(mp)
	} else {
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	return func(ctx context.Context) error {
		// Every provider is shut down even if one fails: each flushes its own data.
		var errs []error
		for _, shutdown := range shutdowns {
			errs = append(errs, shutdown(ctx))
		}
		return errors.Join(errs...)
	}, nil
}

// exportEnabled reports whether an OTLP endpoint is configured for all
// signals or for the one named by signalVar.
func exportEnabled(signalVar string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv(signalVar) != ""
}
