// The original system's load test (CONTRACT.md "Its load test"): setup creates a product with
// stock 999999, reads it, posts one order; `warm` ramps the arrival rate 200 → 400 → 700 → 1000
// iterations/s over 30 s, `steady` holds 1000/s for 30 s; each iteration is one POST /orders.
// Run: k6 run -e BASE_URL_ORDERS=http://localhost:4000 -e BASE_URL_PRODUCTS=http://localhost:3000 k6/orders.test.js
// Without k6: make load (the Go runner in cmd/loadrunner plays the same scenario).
import http from 'k6/http';
import { check } from 'k6';

const ORDERS = __ENV.BASE_URL_ORDERS || 'http://localhost:4000';
const PRODUCTS = __ENV.BASE_URL_PRODUCTS || 'http://localhost:3000';
const JSON_HEADERS = { headers: { 'Content-Type': 'application/json' } };

export const options = {
  scenarios: {
    warm: {
      executor: 'ramping-arrival-rate',
      startRate: 200,
      timeUnit: '1s',
      preAllocatedVUs: 200,
      maxVUs: 2000,
      stages: [
        { target: 400, duration: '10s' },
        { target: 700, duration: '10s' },
        { target: 1000, duration: '10s' },
      ],
    },
    steady: {
      executor: 'constant-arrival-rate',
      rate: 1000,
      timeUnit: '1s',
      duration: '30s',
      startTime: '30s',
      preAllocatedVUs: 200,
      maxVUs: 2000,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p(95)<300'],
  },
};

export function setup() {
  const created = http.post(`${PRODUCTS}/products`, JSON.stringify({ name: 'k6 load', price: 1000, qty: 999999 }), JSON_HEADERS);
  check(created, { 'product created': (r) => r.status === 201 });
  const productId = created.json('id');
  check(http.get(`${PRODUCTS}/products/${productId}`), { 'product readable': (r) => r.status === 200 });
  const first = http.post(`${ORDERS}/orders`, JSON.stringify({ productId, qty: 1 }), JSON_HEADERS);
  check(first, { 'first order 201': (r) => r.status === 201 });
  return { productId };
}

export default function (data) {
  const res = http.post(`${ORDERS}/orders`, JSON.stringify({ productId: data.productId, qty: 1 }), JSON_HEADERS);
  check(res, { 'status is 201': (r) => r.status === 201 });
}
