package orderclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ProblemError is an order-service answer that is not a success: its status and problem document.
type ProblemError struct {
	Status  int
	Problem Problem
}

func (e *ProblemError) Error() string {
	detail := e.Problem.Title
	if e.Problem.Detail != nil {
		detail = *e.Problem.Detail
	}
	return fmt.Sprintf("order-service answered %d %s: %s", e.Status, e.Problem.Code, detail)
}

// waitPerCall is the Prefer: wait of each GET: under the default 5 s client timeout.
const waitPerCall = 4

// PlaceOrderAndWait places an order and returns it once the stock saga has decided it
// (CONFIRMED or REJECTED), or once ctx ends (then the order as last seen, with ctx's error).
//
// Retries are safe: the order is sent with a fresh Idempotency-Key, and an answer that may be
// retried — no answer at all, 503 (retried after Retry-After), 409 IDEMPOTENCY_KEY_IN_USE, 500
// ORDER_OUTCOME_UNKNOWN — is retried with the same key until ctx ends, so the order is placed
// exactly once. Any other failure (404 unknown product, 409 insufficient stock, 400, 401) is a
// *ProblemError. The wait costs no polling: each GET /orders/{id} asks the service to hold the
// answer until the order is final (Prefer: wait).
func (c *ClientWithResponses) PlaceOrderAndWait(ctx context.Context, in OrderInput) (*Order, error) {
	key := uuid.NewString()
	var created *CreatedOrder
	for created == nil {
		resp, err := c.CreateOrderWithResponse(ctx, &CreateOrderParams{IdempotencyKey: &key}, in)
		var answer *http.Response
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil: // no answer: the order may or may not be placed; the key tells on retry
		case resp.JSON201 != nil:
			created = resp.JSON201
			continue
		case !retryable(resp.StatusCode(), resp.Body):
			return nil, problemError(resp.StatusCode(), resp.Body)
		default:
			answer = resp.HTTPResponse
		}
		if err := sleep(ctx, retryAfter(answer)); err != nil {
			return nil, err
		}
	}
	order := &Order{Id: created.Id, ProductId: created.ProductId, Qty: created.Qty, UnitPrice: created.UnitPrice, TotalPrice: created.TotalPrice,
		Status: created.Status, RejectReason: created.RejectReason, CreatedAt: created.CreatedAt, UpdatedAt: created.UpdatedAt}
	prefer := "wait=" + strconv.Itoa(waitPerCall)
	for order.Status == OrderStatusPENDING {
		resp, err := c.GetOrderWithResponse(ctx, order.Id, &GetOrderParams{Prefer: &prefer})
		var answer *http.Response
		switch {
		case err != nil && ctx.Err() != nil:
			return order, ctx.Err()
		case err != nil:
		case resp.JSON200 != nil:
			order = resp.JSON200
			if resp.HTTPResponse.Header.Get("Preference-Applied") != "" || order.Status != OrderStatusPENDING {
				continue // the service held the answer: ask again at once
			}
			answer = resp.HTTPResponse
		case !retryable(resp.StatusCode(), resp.Body):
			return order, problemError(resp.StatusCode(), resp.Body)
		default:
			answer = resp.HTTPResponse
		}
		// No answer, or an answer that did not wait (an older service, or too many waiting).
		if err := sleep(ctx, retryAfter(answer)); err != nil {
			return order, err
		}
	}
	return order, nil
}

func retryable(status int, body []byte) bool {
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return true
	case http.StatusConflict, http.StatusInternalServerError:
		var p Problem
		return json.Unmarshal(body, &p) == nil && (p.Code == ProblemCodeIDEMPOTENCYKEYINUSE || p.Code == ProblemCodeORDEROUTCOMEUNKNOWN)
	}
	return false
}

// retryAfter is the pause before a retry: the answer's Retry-After, or a short default (also
// when there was no answer, resp == nil).
func retryAfter(resp *http.Response) time.Duration {
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return 200 * time.Millisecond
}

func problemError(status int, body []byte) error {
	var p Problem
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("order-service answered %d: %w", status, errors.Join(err, errors.New(string(body))))
	}
	return &ProblemError{Status: status, Problem: p}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
