package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The two services and what every deployment form must agree on.
type serviceSpec struct {
	Name       string
	Port       int
	ConfigKeys []string // non-secret env (ConfigMap)
	SecretKeys []string // credentials (Secret)
	DBUser, DB string
}

var services = []serviceSpec{
	{
		Name:       "product-service",
		Port:       3000,
		ConfigKeys: []string{"PORT", "REDIS_URL", "ORDERS_BASE", "AMQP_EXCHANGE", "LOG_LEVEL"},
		SecretKeys: []string{"DATABASE_URL", "RABBIT_URL"},
		DBUser:     "product", DB: "productdb",
	},
	{
		Name:       "order-service",
		Port:       4000,
		ConfigKeys: []string{"PORT", "REDIS_URL", "PRODUCT_BASE_URL", "AMQP_EXCHANGE", "LOG_LEVEL"},
		SecretKeys: []string{"MYSQL_DSN", "RABBIT_URL"},
		DBUser:     "order", DB: "orderdb",
	},
}

// brokerUsers returns user -> password as infra/rabbitmq/definitions.json creates them, the one
// source of the services' broker users (make infra, compose, and the file Kubernetes operators
// import).
func brokerUsers(t *testing.T) map[string]string {
	t.Helper()
	var defs rabbitDefinitions
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(infraDir(t), "rabbitmq", "definitions.json"))), &defs))
	users := map[string]string{}
	for _, u := range defs.Users {
		users[u.Name] = u.Password
	}
	return users
}

// rabbitDefinitions is the part of a RabbitMQ definitions file the checks read.
type rabbitDefinitions struct {
	Exchanges []struct {
		Name, Vhost, Type string
		Durable           bool
	} `json:"exchanges"`
	Users []struct {
		Name, Password, Tags string
	} `json:"users"`
	Permissions []struct {
		User, Vhost, Configure, Write, Read string
	} `json:"permissions"`
	TopicPermissions []struct {
		User, Vhost, Exchange, Write, Read string
	} `json:"topic_permissions"`
}

// infraDir is this package's directory (go test runs in it); repoRoot is its parent.
func infraDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(".")
	require.NoError(t, err)
	return d
}

func repoRoot(t *testing.T) string { return filepath.Dir(infraDir(t)) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// initSQLAccounts returns user -> password and user -> database as created by
// infra/mysql/init.sql, the one source of the development credentials.
func initSQLAccounts(t *testing.T) (passwords, databases map[string]string) {
	t.Helper()
	sql := readFile(t, filepath.Join(infraDir(t), "mysql", "init.sql"))
	passwords, databases = map[string]string{}, map[string]string{}
	for _, m := range regexp.MustCompile(`(?i)CREATE USER IF NOT EXISTS '(\w+)'@'%' IDENTIFIED BY '([^']*)'`).FindAllStringSubmatch(sql, -1) {
		passwords[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`(?i)GRANT ALL PRIVILEGES ON (\w+)\.\* TO '(\w+)'@'%'`).FindAllStringSubmatch(sql, -1) {
		databases[m[2]] = m[1]
	}
	return passwords, databases
}

func TestInitSQLCreatesOneDatabasePerService(t *testing.T) {
	sql := readFile(t, filepath.Join(infraDir(t), "mysql", "init.sql"))
	passwords, databases := initSQLAccounts(t)
	for _, s := range services {
		require.Regexp(t, `CREATE DATABASE IF NOT EXISTS `+s.DB+` `, sql)
		require.Contains(t, passwords, s.DBUser)
		require.Equal(t, s.DB, databases[s.DBUser], "user %s must own exactly its database", s.DBUser)
		// Both host forms, each created idempotently and granted only its own database.
		for _, host := range []string{"%", "localhost"} {
			require.Contains(t, sql, "CREATE USER IF NOT EXISTS '"+s.DBUser+"'@'"+host+"'")
			require.Contains(t, sql, "GRANT ALL PRIVILEGES ON "+s.DB+".* TO '"+s.DBUser+"'@'"+host+"'")
		}
	}
	stmts := regexp.MustCompile(`(?m)^\s*--.*$`).ReplaceAllString(sql, "") // statements only
	require.NotRegexp(t, `(?i)ON \*\.\*`, stmts, "no global grants")
	require.NotRegexp(t, `(?i)0900_ai_ci`, stmts, "MariaDB 10.11 does not know MySQL 8's 0900 collations")
}
