package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds Debian's chromium; under CI a missing browser is a failure (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	unavailable(t, "chromium", os.ErrNotExist)
	return ""
}

// TestSwaggerUIInARealBrowser opens /docs of both services in headless Chromium, checks that every
// operation of the spec is listed, and creates a product through "Try it out" → Execute, reading
// the 201 from the page. It saves a screenshot for the README.
func TestSwaggerUIInARealBrowser(t *testing.T) {
	stack := startStack(t)
	browser := chromiumPath(t)

	// Not t.TempDir: Chromium may still be writing its profile while the test cleans up.
	profile, err := os.MkdirTemp("", "shop-chromium-")
	require.NoError(t, err)
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1400),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	for _, svc := range []struct {
		base string
		ops  []string
	}{
		{stack.productURL, []string{"listProducts", "createProduct", "getProduct", "replaceProduct", "updateProduct", "deleteProduct", "getProductWithOrders", "getLiveness", "getReadiness"}},
		{stack.orderURL, []string{"createOrder", "getOrder", "listOrdersByProduct", "getHealth", "getLiveness", "getReadiness"}},
	} {
		var ids []string
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Navigate(svc.base+"/docs"),
			chromedp.WaitVisible(`.opblock`, chromedp.ByQuery),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('.opblock')).map(e => e.id)`, &ids),
		), "open %s/docs", svc.base)
		for _, op := range svc.ops {
			found := false
			for _, id := range ids {
				if strings.HasSuffix(strings.ToLower(id), "-"+strings.ToLower(op)) {
					found = true
				}
			}
			assert.True(t, found, "operation %s listed at %s/docs (have %v)", op, svc.base, ids)
		}
	}

	// Try it out: POST /products with the example body, against the same origin.
	var status, body string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Navigate(stack.productURL+"/docs"),
		chromedp.WaitVisible(`#operations-products-createProduct`, chromedp.ByQuery),
		chromedp.Click(`#operations-products-createProduct .opblock-summary-control`, chromedp.ByQuery),
		chromedp.WaitVisible(`#operations-products-createProduct .try-out__btn`, chromedp.ByQuery),
		chromedp.Click(`#operations-products-createProduct .try-out__btn`, chromedp.ByQuery),
		chromedp.WaitVisible(`#operations-products-createProduct .execute`, chromedp.ByQuery),
		chromedp.Click(`#operations-products-createProduct .execute`, chromedp.ByQuery),
		chromedp.WaitVisible(`#operations-products-createProduct .live-responses-table tbody .response-col_status`, chromedp.ByQuery),
		chromedp.Text(`#operations-products-createProduct .live-responses-table tbody .response-col_status`, &status, chromedp.ByQuery),
		chromedp.Text(`#operations-products-createProduct .live-responses-table tbody .response-col_description`, &body, chromedp.ByQuery),
	))
	assert.Equal(t, "201", strings.TrimSpace(status))
	assert.Contains(t, body, `"name": "BFF Test"`)

	// Each error response shows its own example, not one generated from the schema (which said
	// 400 VALIDATION_FAILED for a 503); and the page links the events document.
	var responses, links string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Text(`#operations-products-createProduct .responses-wrapper`, &responses, chromedp.ByQuery),
		chromedp.Text(`#api-documents`, &links, chromedp.ByQuery),
	))
	for _, code := range []string{"VALIDATION_FAILED", "UNAUTHORIZED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE", "RATE_LIMITED", "INTERNAL", "SERVICE_UNAVAILABLE"} {
		assert.Contains(t, responses, `"code": "`+code+`"`)
	}
	assert.Contains(t, links, "/asyncapi.json")

	var png []byte
	require.NoError(t, chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)))
	out := filepath.Join("..", "docs", "swagger-ui.png")
	// Refreshed on request only, so that a local `make test` leaves the committed picture alone.
	if _, err := os.Stat(out); err != nil || os.Getenv("E2E_WRITE_SCREENSHOT") != "" {
		require.NoError(t, os.WriteFile(out, png, 0o644))
	}
	assert.Greater(t, len(png), 10_000)
}
