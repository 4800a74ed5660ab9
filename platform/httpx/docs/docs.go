// Package docs owns what a service serves about its own API: the OpenAPI and AsyncAPI documents
// byte for byte as they were built (api/bundled/*.json), and Swagger UI over them.
package docs

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

// swaggerAssets is swagger-ui-dist 5.32.0 (Apache-2.0, see swaggerui/assets/LICENSE), vendored so
// that /docs works without internet at runtime.
//
//go:embed swaggerui/assets
var swaggerAssets embed.FS

var swaggerPage = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{.Service}} — API docs</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <style>#api-documents { font-family: sans-serif; font-size: 14px; max-width: 1460px; margin: 12px auto 0; padding: 0 20px; }</style>
</head>
<body>
  <nav id="api-documents">Documents:
    <a href="/openapi.json">OpenAPI 3.0 (/openapi.json)</a>{{if .Events}} ·
    <a href="/asyncapi.json">events: AsyncAPI 3.0 (/asyncapi.json)</a>{{end}}
  </nav>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`))

// The spec's servers entry is "/", so "Try it out" calls the same origin that served the page.
const swaggerInit = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  displayRequestDuration: true,
  tryItOutEnabled: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
`

// SwaggerUI serves the UI page at / and its assets beneath it; mount it at /docs. The page links
// the documents themselves, and the AsyncAPI document of the events when events is true.
func SwaggerUI(service string, events bool) http.Handler {
	assets, _ := fs.Sub(swaggerAssets, "swaggerui/assets")
	files := http.FileServer(http.FS(assets))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/docs")
		switch name {
		case "", "/", "/index.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = swaggerPage.Execute(w, struct {
				Service string
				Events  bool
			}{service, events})
		case "/init.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write([]byte(swaggerInit))
		default:
			w.Header().Set("Cache-Control", "public, max-age=86400")
			r2 := r.Clone(r.Context())
			r2.URL.Path = name
			files.ServeHTTP(w, r2)
		}
	})
}

// Document answers an API document exactly as it was built (api/bundled/*.json).
func Document(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}
}
