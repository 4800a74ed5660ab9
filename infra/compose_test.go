package infra

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadCompose loads infra/docker-compose.yml the way `docker compose` does (schema validation,
// interpolation, normalisation, path resolution), offline, with an empty environment: every
// ${VAR} in the file must have a default.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	dir := infraDir(t)
	file := filepath.Join(dir, "docker-compose.yml")
	src := regexp.MustCompile(`(?m)(^|\s)#.*$`).ReplaceAllString(readFile(t, file), "") // no comments
	// ${VAR} without :- default (or $VAR) would make `docker compose` warn and use "".
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|(?:^|[^$])\$([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(src, -1) {
		t.Errorf("variable %s%s has no default (use ${VAR:-default})", m[1], m[2])
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.Mapping{},
	})
	require.NoError(t, err)
	return p
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	assert.Equal(t, "shop", p.Name)

	names := p.ServiceNames()
	slices.Sort(names)
	require.Equal(t, []string{"jaeger", "mysql", "order-service", "product-service", "rabbitmq", "rabbitmq-users", "redis"}, names)

	images := map[string]string{"mysql": "mysql:8.0", "redis": "redis:7-alpine", "rabbitmq": "rabbitmq:3.13-management",
		"rabbitmq-users": "curlimages/curl:8.11.1", "jaeger": "jaegertracing/all-in-one:1.62.0"}
	for name, image := range images {
		assert.Equal(t, image, p.Services[name].Image, name)
	}

	// Every service has a healthcheck: the data stores with their own tools, the services with
	// their binary's `healthcheck` subcommand (the images have no shell and no curl).
	health := map[string][]string{
		"redis":           {"CMD", "redis-cli", "ping"},
		"rabbitmq":        {"CMD", "rabbitmq-diagnostics", "-q", "ping"},
		"product-service": {"CMD", "/product-service", "healthcheck"},
		"order-service":   {"CMD", "/order-service", "healthcheck"},
	}
	for name, s := range p.Services {
		if name == oneShot {
			continue
		}
		hc := s.HealthCheck
		require.NotNil(t, hc, "%s: healthcheck", name)
		assert.False(t, hc.Disable, name)
		require.NotNil(t, hc.Interval, name)
		require.NotNil(t, hc.Timeout, name)
		require.NotNil(t, hc.Retries, name)
		if want, ok := health[name]; ok {
			assert.Equal(t, want, []string(hc.Test), "%s: healthcheck", name)
		}
		assert.Equal(t, "unless-stopped", s.Restart, name)
	}
	mysqlHC := strings.Join(p.Services["mysql"].HealthCheck.Test, " ")
	assert.Contains(t, mysqlHC, "mysqladmin ping")
	assert.Contains(t, mysqlHC, "-h 127.0.0.1", "TCP: the init-time server (socket only) must not count as healthy")
	assert.Contains(t, mysqlHC, "$MYSQL_ROOT_PASSWORD", "$$ in the file leaves the variable to the container's shell")

	// MySQL gets the tuning and the init script, read-only.
	mounts := map[string]types.ServiceVolumeConfig{}
	for _, v := range p.Services["mysql"].Volumes {
		mounts[v.Target] = v
	}
	cnf := mounts["/etc/mysql/conf.d/shop.cnf"]
	assert.Equal(t, filepath.Join(infraDir(t), "mysql", "my.cnf"), cnf.Source)
	assert.True(t, cnf.ReadOnly)
	initSQL := mounts["/docker-entrypoint-initdb.d/01-init.sql"]
	assert.Equal(t, filepath.Join(infraDir(t), "mysql", "init.sql"), initSQL.Source)
	assert.True(t, initSQL.ReadOnly)
	assert.Equal(t, types.VolumeTypeVolume, mounts["/var/lib/mysql"].Type, "MySQL data in a named volume")
	for _, v := range []types.ServiceVolumeConfig{cnf, initSQL} {
		_, err := os.Stat(v.Source)
		assert.NoError(t, err)
	}

	published := map[string][]uint32{
		"mysql": {3306}, "redis": {6379}, "rabbitmq": {5672, 15672},
		"product-service": {3000}, "order-service": {4000}, "jaeger": {16686, 4318},
	}
	for name, want := range published {
		var got []uint32
		for _, port := range p.Services[name].Ports {
			got = append(got, port.Target)
			assert.NotEmpty(t, port.Published, "%s: %d published", name, port.Target)
		}
		assert.ElementsMatch(t, want, got, "%s ports", name)
	}
}

// oneShot is the compose service that runs once and exits: it imports the broker users.
const oneShot = "rabbitmq-users"

func TestComposeStartOrder(t *testing.T) {
	p := loadCompose(t)
	want := map[string][]string{
		oneShot:           {"rabbitmq"},
		"product-service": {"mysql", "rabbitmq", oneShot, "redis"},
		"order-service":   {"mysql", "product-service", "rabbitmq", oneShot, "redis"},
	}
	for name, deps := range want {
		s := p.Services[name]
		var got []string
		for dep, cfg := range s.DependsOn {
			got = append(got, dep)
			want := types.ServiceConditionHealthy
			if dep == oneShot {
				want = types.ServiceConditionCompletedSuccessfully
			}
			assert.Equal(t, want, cfg.Condition, "%s -> %s", name, dep)
			assert.True(t, cfg.Required, "%s -> %s", name, dep)
		}
		slices.Sort(got)
		assert.Equal(t, deps, got, "%s depends_on", name)
	}
	for _, name := range []string{"mysql", "redis", "rabbitmq", "jaeger"} {
		assert.Empty(t, p.Services[name].DependsOn, name)
	}
}

// TestComposeImportsTheBrokerUsers: the one-shot service posts infra/rabbitmq/definitions.json
// (the file make infra imports) to the management API, and fails when the import fails.
func TestComposeImportsTheBrokerUsers(t *testing.T) {
	p := loadCompose(t)
	s := p.Services[oneShot]
	assert.Equal(t, "no", s.Restart, "runs once")
	require.Len(t, s.Volumes, 1)
	assert.Equal(t, filepath.Join(infraDir(t), "rabbitmq", "definitions.json"), s.Volumes[0].Source)
	assert.True(t, s.Volumes[0].ReadOnly)
	cmd := strings.Join(s.Command, " ")
	assert.Contains(t, cmd, "--data-binary @"+s.Volumes[0].Target)
	assert.Contains(t, cmd, "http://rabbitmq:15672/api/definitions")
	assert.Contains(t, cmd, "--fail-with-body", "a refused import fails the start of the services")
	assert.Contains(t, cmd, "--user guest:guest", "the administrator of the rabbitmq service")
	assert.Equal(t, "guest", *p.Services["rabbitmq"].Environment["RABBITMQ_DEFAULT_USER"])
}

func TestComposeServiceWiring(t *testing.T) {
	p := loadCompose(t)
	passwords, databases := initSQLAccounts(t)
	root := repoRoot(t)

	for _, s := range services {
		t.Run(s.Name, func(t *testing.T) {
			svc := p.Services[s.Name]
			require.NotNil(t, svc.Build)
			assert.Equal(t, root, svc.Build.Context, "build context is the repository root (the Go workspace)")
			assert.Equal(t, "infra/docker/"+s.Name+".Dockerfile", svc.Build.Dockerfile)
			_, err := os.Stat(filepath.Join(svc.Build.Context, svc.Build.Dockerfile))
			require.NoError(t, err)
			assert.Equal(t, "ghcr.io/shopworks/"+s.Name+":dev", svc.Image)

			env := map[string]string{}
			for k, v := range svc.Environment {
				require.NotNil(t, v, "%s has no value", k)
				env[k] = *v
			}
			for _, k := range append(slices.Clone(s.ConfigKeys), s.SecretKeys...) {
				assert.NotEmpty(t, env[k], "%s", k)
			}
			assert.Equal(t, strconv.Itoa(s.Port), env["PORT"])

			// Credentials and database: exactly the ones init.sql creates.
			var user, pass, db, host string
			if dsn, ok := env["DATABASE_URL"]; ok {
				u, err := url.Parse(dsn)
				require.NoError(t, err)
				assert.Equal(t, "mysql", u.Scheme)
				user, host, db = u.User.Username(), u.Host, strings.TrimPrefix(u.Path, "/")
				pass, _ = u.User.Password()
			} else {
				m := regexp.MustCompile(`^([^:]+):([^@]*)@tcp\(([^)]+)\)/([^?]+)\?(.*)$`).FindStringSubmatch(env["MYSQL_DSN"])
				require.NotNil(t, m, "MYSQL_DSN is a go-sql-driver DSN: %s", env["MYSQL_DSN"])
				user, pass, host, db = m[1], m[2], m[3], m[4]
				q, err := url.ParseQuery(m[5])
				require.NoError(t, err)
				assert.Equal(t, "true", q.Get("parseTime"))
			}
			assert.Equal(t, "mysql:3306", host)
			assert.Equal(t, s.DBUser, user)
			assert.Equal(t, passwords[user], pass, "password of %s as in init.sql", user)
			assert.Equal(t, databases[user], db)

			rabbit, err := url.Parse(env["RABBIT_URL"])
			require.NoError(t, err)
			assert.Equal(t, "amqp", rabbit.Scheme)
			assert.Equal(t, "rabbitmq:5672", rabbit.Host)
			// Its own least-privilege broker user, as rabbitmq/definitions.json creates it.
			brokerPass, _ := rabbit.User.Password()
			assert.Equal(t, s.Name, rabbit.User.Username())
			assert.Equal(t, brokerUsers(t)[s.Name], brokerPass)
			assert.Equal(t, "redis://redis:6379/0", env["REDIS_URL"])
			assert.Equal(t, "orders", env["AMQP_EXCHANGE"])
		})
	}
	// The services find each other by their compose names.
	assert.Equal(t, "http://order-service:4000", *p.Services["product-service"].Environment["ORDERS_BASE"])
	assert.Equal(t, "http://product-service:3000", *p.Services["order-service"].Environment["PRODUCT_BASE_URL"])
}

// TestComposeTracesToJaeger: both services export their spans to the jaeger service's OTLP/HTTP
// port, which Jaeger accepts, and its UI is published; tracing can be turned off from the shell.
func TestComposeTracesToJaeger(t *testing.T) {
	p := loadCompose(t)
	jaeger := p.Services["jaeger"]
	assert.Equal(t, "true", *jaeger.Environment["COLLECTOR_OTLP_ENABLED"])
	for _, s := range services {
		env := p.Services[s.Name].Environment
		require.NotNil(t, env["OTEL_EXPORTER_OTLP_ENDPOINT"], s.Name)
		assert.Equal(t, "http://jaeger:4318", *env["OTEL_EXPORTER_OTLP_ENDPOINT"], s.Name)
		assert.Equal(t, "otlp", *env["OTEL_TRACES_EXPORTER"], s.Name)
		assert.NotContains(t, p.Services[s.Name].DependsOn, "jaeger", "%s works without Jaeger", s.Name)
	}
}
