package loadtest_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shopworks/shop/k6/loadtest"
)

// fakeProc is a proc filesystem in a directory, written the way Linux writes it.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) fakeProc {
	f := fakeProc{t: t, root: t.TempDir()}
	require.NoError(t, os.MkdirAll(filepath.Join(f.root, "net"), 0o755))
	return f
}

func (f fakeProc) write(path, content string) {
	p := filepath.Join(f.root, path)
	require.NoError(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(f.t, os.WriteFile(p, []byte(content), 0o644))
}

// machine writes /proc/stat: two cores; user nice system idle iowait irq softirq steal guest
// guest_nice in clock ticks (1/100 s).
func (f fakeProc) machine(user, nice, system, idle, iowait, irq, softirq, steal, guest int) {
	half := func(v int) int { return v / 2 }
	line := func(name string, d func(int) int) string {
		return fmt.Sprintf("%s %d %d %d %d %d %d %d %d %d 0\n", name, d(user), d(nice), d(system), d(idle), d(iowait), d(irq), d(softirq), d(steal), d(guest))
	}
	id := func(v int) int { return v }
	f.write("stat", "cpu "+line("", id)[1:]+line("cpu0", half)+line("cpu1", half)+
		"intr 1224209 0 0\nctxt 2881108\nbtime 1796157791\nprocesses 23495\nprocs_running 6\nprocs_blocked 0\n"+
		"softirq 393275 0 51310 6 25351 106889 0 817 71660 13 137229\n")
}

// process writes /proc/<pid>/stat and comm with utime and stime in clock ticks, and its fds.
func (f fakeProc) process(pid int, comm string, utime, stime int, sockets ...int) {
	f.write(fmt.Sprintf("%d/comm", pid), comm+"\n")
	f.write(fmt.Sprintf("%d/stat", pid), fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194304 100 0 0 0 %d %d 0 0 20 0 8 0 66475 3133440 411 "+
		"18446744073709551615 1 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 1 1 1 1 1 1 1 0\n", pid, comm, pid, pid, utime, stime))
	require.NoError(f.t, os.MkdirAll(filepath.Join(f.root, fmt.Sprint(pid), "fd"), 0o755))
	for i, inode := range sockets {
		link := filepath.Join(f.root, fmt.Sprint(pid), "fd", fmt.Sprint(3+i))
		_ = os.Remove(link)
		require.NoError(f.t, os.Symlink(fmt.Sprintf("socket:[%d]", inode), link))
	}
}

// tcp writes /proc/net/tcp: one listener per port (state 0A) with the given inode, plus an
// established connection from that port, which must not count as a listener.
func (f fakeProc) tcp(listeners map[int]int) {
	s := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	i := 0
	for port, inode := range listeners {
		s += fmt.Sprintf("   %d: 0100007F:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n", i, port, inode)
		s += fmt.Sprintf("   %d: 0100007F:%04X 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 20 4 30 10 -1\n", i+1, port, inode+1000)
		i += 2
	}
	f.write("net/tcp", s)
}

func TestCPUMeterFindsProcessesAndAccountsPerOrder(t *testing.T) {
	f := newFakeProc(t)
	f.machine(1000, 0, 500, 9000, 100, 10, 40, 0, 0)
	f.tcp(map[int]int{4000: 555, 3306: 777})
	f.process(100, "order-service", 1000, 500, 555)
	f.process(101, "order-service", 5, 5) // another copy, on another port: not ours
	f.process(200, "product-service", 300, 100)
	f.process(300, "mariadbd", 2000, 1000, 777)
	f.process(400, "beam.smp", 10, 10)
	f.process(401, "beam.smp", 10, 10)
	f.process(500, "loadrunner", 50, 50)
	f.process(600, "redis-server", 10, 10, 888)
	f.write("net/tcp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		"   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 888 1 0000000000000000 100 0 0 10 0\n")

	procs := []loadtest.Proc{
		{Name: "order-service", Port: 4000, Comm: "order-service"},     // by its listening port
		{Name: "product-service", Port: 3000, Comm: "product-service"}, // nothing on 3000: by name
		{Name: "MariaDB", Port: 3306, Comm: "mariadbd"},
		{Name: "RabbitMQ", Port: 5672, Comm: "beam.smp"},  // two of them, none on the port
		{Name: "Redis", Port: 6379, Comm: "redis-server"}, // on [::1]
		{Name: "ghost", Port: 9999},                       // nothing there, no name to look for
		{Name: "absent", Port: 9998, Comm: "absent"},      // neither on its port nor by name
		{Name: "load runner", PID: 500},
	}
	m, err := loadtest.NewCPUMeter(f.root, procs)
	require.NoError(t, err)
	from, err := m.Sample()
	require.NoError(t, err)
	assert.Equal(t, 2, from.Cores)

	// 10 s later: the machine was busy 12 s of its 20 (user 6, system 3, irq 1, softirq 1,
	// steal 1); iowait and guest time (already part of user) are not extra busy time.
	f.machine(1600, 0, 800, 16000, 600, 110, 140, 100, 300)
	f.process(100, "order-service", 1300, 650, 555) // +4.5 s
	f.process(101, "order-service", 500, 500)       // +9.9 s, but not the one on port 4000
	f.process(200, "product-service", 400, 150)     // +1.5 s
	f.process(300, "mariadbd", 2250, 1150, 777)     // +4 s
	f.process(500, "loadrunner", 100, 100)          // +1 s
	to, err := m.Sample()
	require.NoError(t, err)
	to.At = from.At.Add(10 * time.Second)

	start := from.At.Add(-5 * time.Second) // the window began 5 s into the run
	c := m.CPUUsage(from, to, start, 10010, 10000)
	assert.Equal(t, 5*time.Second, c.From)
	assert.Equal(t, 10*time.Second, c.Window)
	assert.Equal(t, 2, c.Cores)

	byName := map[string]loadtest.ProcessCPU{}
	for _, p := range c.Processes {
		byName[p.Name] = p
	}
	assert.Equal(t, 100, byName["order-service"].PID)
	assert.InDelta(t, 4.5, byName["order-service"].Seconds, 1e-9)
	assert.InDelta(t, 0.45, byName["order-service"].Cores, 1e-9)
	assert.InDelta(t, 0.45, byName["order-service"].MsPerOrder, 1e-9) // 4.5 s / 10,000 orders
	assert.Equal(t, 200, byName["product-service"].PID)
	assert.InDelta(t, 0.15, byName["product-service"].MsPerOrder, 1e-9)
	assert.InDelta(t, 0.4, byName["MariaDB"].MsPerOrder, 1e-9)
	assert.InDelta(t, 0.1, byName["load runner"].MsPerOrder, 1e-9)
	assert.Contains(t, byName["RabbitMQ"].Missing, "2 processes named beam.smp")
	assert.Equal(t, 600, byName["Redis"].PID)
	assert.Contains(t, byName["ghost"].Missing, "nothing listens on port 9999 here")
	assert.Contains(t, byName["absent"].Missing, "no process named absent")

	assert.InDelta(t, 11, c.Listed.Seconds, 1e-9)
	assert.InDelta(t, 12, c.Box.Seconds, 1e-9)
	assert.InDelta(t, 1.2, c.Box.Cores, 1e-9)
	assert.InDelta(t, 1.2, c.Box.MsPerOrder, 1e-9)
	assert.InDelta(t, 12000.0/10010, c.Box.MsPerRequest, 1e-9)
	assert.InDelta(t, 1, c.Other.Seconds, 1e-9)
	assert.InDelta(t, 1000/1.2, c.OrdersPerSecPerCore, 1e-9, "orders per second of one core at 1.2 ms per order")

	// A process that exits during the window is reported, not counted.
	require.NoError(t, os.RemoveAll(filepath.Join(f.root, "200")))
	gone, err := m.Sample()
	require.NoError(t, err)
	c = m.CPUUsage(from, gone, start, 10, 10)
	for _, p := range c.Processes {
		if p.Name == "product-service" {
			assert.Contains(t, p.Missing, "pid 200 could not be read")
		}
	}
	_, ok := c.Process("product-service")
	assert.False(t, ok)
	mdb, ok := c.Process("MariaDB")
	require.True(t, ok)
	assert.Equal(t, 300, mdb.PID)

	var out bytes.Buffer
	c.Print(&out)
	assert.Contains(t, out.String(), "orders/s per core")
	assert.Contains(t, out.String(), "not measured: pid 200 could not be read")
}

func TestCPUMeterWithoutProcFails(t *testing.T) {
	_, err := loadtest.NewCPUMeter(filepath.Join(t.TempDir(), "nope"), nil)
	require.ErrorContains(t, err, "proc filesystem")
	_, err = loadtest.NewCPUMeter(t.TempDir(), nil) // a directory without stat
	require.ErrorContains(t, err, "proc filesystem")
}

// ShopProcs finds a service by the port of its base URL only when the URL is on this machine.
func TestShopProcsUseLocalPorts(t *testing.T) {
	procs := loadtest.ShopProcs("http://localhost:13000", "http://shop.example:4000", "127.0.0.1:3307", "amqp://guest:guest@127.0.0.1/", "redis://[::1]:6380")
	ports := map[string]int{}
	for _, p := range procs {
		ports[p.Name] = p.Port
	}
	assert.Equal(t, map[string]int{"product-service": 13000, "order-service": 0, "MariaDB": 3307, "RabbitMQ": 5672, "Redis": 6380, "load runner": 0}, ports)
	assert.Equal(t, os.Getpid(), procs[len(procs)-1].PID)
}

// On the real machine: the runner finds itself and the whole machine's CPU moves.
func TestCPUMeterOnThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU accounting reads /proc: Linux only")
	}
	m, err := loadtest.NewCPUMeter("/proc", []loadtest.Proc{{Name: "load runner", PID: os.Getpid()}})
	require.NoError(t, err)
	from, err := m.Sample()
	require.NoError(t, err)
	for x, end := 0, time.Now().Add(300*time.Millisecond); time.Now().Before(end); x++ {
		_ = x * x // burn CPU
	}
	to, err := m.Sample()
	require.NoError(t, err)
	c := m.CPUUsage(from, to, from.At, 1, 1)
	self, ok := c.Process("load runner")
	require.True(t, ok)
	assert.Positive(t, self.Seconds)
	assert.GreaterOrEqual(t, c.Box.Seconds, self.Seconds-0.02, "the machine's busy time includes ours (tick granularity aside)")
}
