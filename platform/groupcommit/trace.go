package groupcommit

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation is the name of this package's tracer.
const instrumentation = "github.com/shopworks/shop/platform/groupcommit"

// startWait starts the span of a caller's wait for its n requests' batch.
func (b *Batcher[Req, Res]) startWait(ctx context.Context, n int) (context.Context, trace.Span) {
	return b.tracer.Start(ctx, b.opts.Name+" wait", trace.WithAttributes(attribute.Int("groupcommit.requests", n)))
}

// endWait links the caller's wait span to the batch that applied its request and records the
// request's error (the span itself ends with Do or DoAll).
func endWait(ctx context.Context, batch trace.SpanContext, err error) {
	span := trace.SpanFromContext(ctx)
	if batch.IsValid() {
		span.AddLink(trace.Link{SpanContext: batch})
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

// startBatch starts the span of one batch: a trace of its own (it serves many), linked to each
// request's wait. end records the batch's error and ends the span.
func (b *Batcher[Req, Res]) startBatch(ctx context.Context, batch []pending[Req, Res]) (context.Context, func(error)) {
	links := make([]trace.Link, 0, len(batch))
	for _, p := range batch {
		if sc := trace.SpanContextFromContext(p.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := b.tracer.Start(ctx, b.opts.Name+" batch", trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("groupcommit.batch.size", len(batch))))
	return ctx, func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}
