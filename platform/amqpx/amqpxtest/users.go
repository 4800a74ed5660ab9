package amqpxtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/shopworks/shop/platform/testkit"
)

// Broker is a private virtual host with the users of a RabbitMQ definitions file.
type Broker struct {
	// Admin is an AMQP URL of the test's own (administrator) user on the virtual host.
	Admin string
	// Users maps each user of the definitions file to an AMQP URL that logs in as it.
	Users map[string]string
}

// definitions is the part of a RabbitMQ definitions file that ImportUsers rewrites.
type definitions struct {
	Vhosts           []map[string]any `json:"vhosts,omitempty"`
	Exchanges        []map[string]any `json:"exchanges,omitempty"`
	Users            []map[string]any `json:"users"`
	Permissions      []map[string]any `json:"permissions"`
	TopicPermissions []map[string]any `json:"topic_permissions"`
}

// ImportUsers applies the RabbitMQ definitions file at path (users, permissions, topic
// permissions, exchanges of the vhost "/") to a fresh virtual host, with every user renamed to a
// name of this run and given a random password, so that tests never touch the real users or
// collide with another run. Everything is deleted after the test. It needs rabbitmqctl (root);
// without it the test fails under CI=true and is skipped otherwise.
func ImportUsers(t testing.TB, path string) Broker {
	t.Helper()
	base := URL(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		for _, p := range []string{"/usr/sbin/rabbitmqctl", "/usr/local/sbin/rabbitmqctl"} {
			if _, serr := os.Stat(p); serr == nil {
				ctl, err = p, nil
			}
		}
	}
	if err != nil {
		testkit.Unavailable(t, "rabbitmqctl (to create users and a virtual host)", err)
	}
	if os.Geteuid() != 0 {
		testkit.Unavailable(t, "rabbitmqctl (to create users and a virtual host)", errors.New("it needs root"))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var defs definitions
	if err := json.Unmarshal(raw, &defs); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	vhost := Name("test_vhost")
	suffix := "_" + vhost[len("test_vhost_"):]
	admin, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	adminUser := admin.User.Username()

	b := Broker{Users: map[string]string{}}
	renamed := map[string]string{}
	for _, u := range defs.Users {
		name, _ := u["name"].(string)
		pass := Name("pw")
		renamed[name] = name + suffix
		u["name"], u["password"] = name+suffix, pass
		delete(u, "password_hash")
		b.Users[name] = withUserAndVhost(admin, name+suffix, pass, vhost)
	}
	for _, list := range [][]map[string]any{defs.Permissions, defs.TopicPermissions} {
		for _, p := range list {
			p["user"] = renamed[p["user"].(string)]
			p["vhost"] = vhost
		}
	}
	for _, x := range defs.Exchanges {
		x["vhost"] = vhost
	}
	defs.Vhosts = []map[string]any{{"name": vhost}}
	defs.Permissions = append(defs.Permissions, map[string]any{
		"user": adminUser, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*",
	})
	pw, _ := admin.User.Password()
	b.Admin = withUserAndVhost(admin, adminUser, pw, vhost)

	out, err := json.Marshal(defs)
	if err != nil {
		t.Fatal(err)
	}
	// rabbitmqctl may run as the broker's own OS user (Debian's wrapper switches to it), which
	// cannot read the test's private temporary directory; the file holds only this run's
	// throw-away passwords.
	dir, err := os.MkdirTemp("", "amqpxtest-definitions-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "definitions.json")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("rabbitmqctl %v: %w\n%s", args, err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		for _, name := range renamed {
			if err := run("delete_user", name); err != nil {
				t.Error(err)
			}
		}
		if err := run("delete_vhost", vhost); err != nil {
			t.Error(err)
		}
	})
	if err := run("import_definitions", file); err != nil {
		t.Fatal(err)
	}
	// The import is asynchronous: wait until every user can log in to the vhost.
	for name, u := range b.Users {
		deadline := time.Now().Add(30 * time.Second)
		for {
			conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
			if err == nil {
				_ = conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("user %s cannot log in to %s after the import: %v", name, vhost, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return b
}

func withUserAndVhost(base *url.URL, user, pass, vhost string) string {
	u := *base
	u.User = url.UserPassword(user, pass)
	u.Path = "/" + vhost
	u.RawPath = "/" + url.PathEscape(vhost)
	return u.String()
}
