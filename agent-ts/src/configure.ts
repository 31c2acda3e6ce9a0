// Pointing a Node application's OpenTelemetry at failpath: OTLP/HTTP protobuf to failpath, on a new
// NodeTracerProvider registered as the global one (with Node's async context). An application with a
// provider of its own adds exporter() to its span processors instead. Needs the optional peer dependencies
// @opentelemetry/sdk-trace-node, @opentelemetry/exporter-trace-otlp-proto and @opentelemetry/resources;
// the helpers themselves need only @opentelemetry/api.

import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

export interface ConfigureOptions {
  /** failpath's OTLP/HTTP base URL (http://127.0.0.1:4318); default: the exporter reads
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318. */
  endpoint?: string;
  serviceName?: string;
  /** e.g. { Authorization: "Bearer ..." } when failpath's receivers.otlp.auth is set. */
  headers?: Record<string, string>;
}

export function exporter(options: ConfigureOptions = {}): OTLPTraceExporter {
  const base = options.endpoint?.replace(/\/+$/, "");
  const url = base === undefined || base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
  return new OTLPTraceExporter({ url, headers: options.headers });
}

/** Call once at start; call the provider's forceFlush() (or shutdown()) before a short-lived process exits. */
export function configure(options: ConfigureOptions = {}): NodeTracerProvider {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(options.serviceName ? { "service.name": options.serviceName } : {}),
    spanProcessors: [new BatchSpanProcessor(exporter(options))],
  });
  provider.register();
  return provider;
}
