// Reads mixed with orders, as the Go runner's `mixed` scenario: 50 % GET /products/{id},
// 20 % GET /orders/product/{id}, 10 % the BFF GET /products/{id}-with-orders, 15 % POST /orders,
// 5 % POST /orders/{id}/cancel of an order this VU placed before (a POST /orders if it has none).
// Run: k6 run -e BASE_URL_ORDERS=http://localhost:4000 -e BASE_URL_PRODUCTS=http://localhost:3000 k6/mixed.test.js
import http from 'k6/http';
import { check } from 'k6';

const ORDERS = __ENV.BASE_URL_ORDERS || 'http://localhost:4000';
const PRODUCTS = __ENV.BASE_URL_PRODUCTS || 'http://localhost:3000';
const JSON_HEADERS = { headers: { 'Content-Type': 'application/json' } };

export const options = {
  scenarios: {
    mixed: {
      executor: 'ramping-arrival-rate',
      startRate: 200,
      timeUnit: '1s',
      preAllocatedVUs: 200,
      maxVUs: 2000,
      stages: [
        { target: 1000, duration: '30s' },
        { target: 1000, duration: '30s' },
      ],
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p(95)<300'],
  },
};

export function setup() {
  const created = http.post(`${PRODUCTS}/products`, JSON.stringify({ name: 'k6 mixed', price: 1000, qty: 999999 }), JSON_HEADERS);
  check(created, { 'product created': (r) => r.status === 201 });
  return { productId: created.json('id') };
}

// Orders this VU placed and may cancel (each VU has its own copy of module state).
const placed = [];

export default function (data) {
  const id = data.productId;
  const dice = Math.random();
  let res;
  if (dice < 0.5) {
    res = http.get(`${PRODUCTS}/products/${id}`);
  } else if (dice < 0.7) {
    res = http.get(`${ORDERS}/orders/product/${id}`);
  } else if (dice < 0.8) {
    res = http.get(`${PRODUCTS}/products/${id}-with-orders`);
  } else if (dice < 0.95 || placed.length === 0) {
    res = http.post(`${ORDERS}/orders`, JSON.stringify({ productId: id, qty: 1 }), JSON_HEADERS);
    if (res.status === 201) {
      placed.push(res.json('id'));
    }
  } else {
    res = http.post(`${ORDERS}/orders/${placed.pop()}/cancel`);
  }
  check(res, { 'not failed': (r) => r.status < 400 });
}
