package loadtest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// Proc says how to find one process whose CPU a run accounts for: a fixed PID (the runner
// itself), else the process listening on Port on this machine (exact even when several
// copies of a service run at once), else the only process whose name (comm) is Comm.
type Proc struct {
	Name string
	PID  int
	Port int
	Comm string
}

// ShopProcs are the processes of a colocated shop: both services found by the port of their
// base URL, MariaDB, RabbitMQ and Redis by theirs, and the runner itself. A base URL that
// does not point at this machine finds its service by name only.
func ShopProcs(productsURL, ordersURL, mysqlAddr, amqpURL, redisURL string) []Proc {
	return append([]Proc{
		{Name: "order-service", Port: localPort(ordersURL), Comm: "order-service"},
		{Name: "product-service", Port: localPort(productsURL), Comm: "product-service"},
	}, InfraProcs(mysqlAddr, amqpURL, redisURL)...)
}

// InfraProcs are MariaDB, RabbitMQ and Redis, found by their ports, and the runner itself.
func InfraProcs(mysqlAddr, amqpURL, redisURL string) []Proc {
	return []Proc{
		{Name: "MariaDB", Port: localPort("mysql://" + mysqlAddr), Comm: "mariadbd"},
		{Name: "RabbitMQ", Port: localPort(amqpURL), Comm: "beam.smp"},
		{Name: "Redis", Port: localPort(redisURL), Comm: "redis-server"},
		{Name: "load runner", PID: os.Getpid()},
	}
}

// localPort is the port of a base URL on a loopback host, 0 when the URL points elsewhere
// (a listener on the same port here would be somebody else's).
func localPort(raw string) int {
	u, err := url.Parse(raw)
	if err != nil {
		return 0
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	p := u.Port()
	if p == "" {
		p = map[string]string{"http": "80", "https": "443", "amqp": "5672", "mysql": "3306", "redis": "6379"}[u.Scheme]
	}
	n, _ := strconv.Atoi(p)
	return n
}

// CPUMeter samples the CPU time of a fixed set of processes and of the whole machine.
type CPUMeter struct {
	fs    procfs.FS
	procs []foundProc
}

type foundProc struct {
	Proc
	pid     int
	missing string // why it was not found; empty when pid is set
}

// NewCPUMeter finds the processes in the proc filesystem mounted at root ("/proc" on Linux).
// A process that cannot be found is reported as missing, not an error: the machine's figure
// stays valid without it.
func NewCPUMeter(root string, procs []Proc) (*CPUMeter, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("proc filesystem: %w", err)
	}
	if _, err := fs.Stat(); err != nil {
		return nil, fmt.Errorf("proc filesystem: %w", err)
	}
	m := &CPUMeter{fs: fs}
	listeners := listeningInodes(root)
	var all procfs.Procs
	for _, p := range procs {
		f := foundProc{Proc: p}
		switch {
		case p.PID > 0:
			f.pid = p.PID
		case p.Port > 0 && listeners[p.Port] != nil:
			if all == nil {
				all, _ = fs.AllProcs()
			}
			f.pid = ownerOf(all, listeners[p.Port])
		}
		if f.pid == 0 && p.Comm != "" {
			if all == nil {
				all, _ = fs.AllProcs()
			}
			f.pid, f.missing = byComm(all, p.Comm)
		}
		if f.pid == 0 && f.missing == "" {
			f.missing = fmt.Sprintf("nothing listens on port %d here", p.Port)
		}
		m.procs = append(m.procs, f)
	}
	return m, nil
}

// listeningInodes maps each listening TCP port (IPv4 and IPv6) to its sockets' inodes, from
// /proc/net/tcp and tcp6 (procfs deprecates its reader of these for netlink; the files stay).
func listeningInodes(root string) map[int]map[uint64]bool {
	const tcpListen = "0A"
	out := map[int]map[uint64]bool{}
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(root, "net", name))
		if err != nil {
			continue // e.g. no IPv6
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != tcpListen {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			port, perr := strconv.ParseUint(hexPort, 16, 16)
			inode, ierr := strconv.ParseUint(f[9], 10, 64)
			if perr != nil || ierr != nil {
				continue
			}
			if out[int(port)] == nil {
				out[int(port)] = map[uint64]bool{}
			}
			out[int(port)][inode] = true
		}
	}
	return out
}

// ownerOf is the process holding one of the socket inodes, 0 when none can be seen.
func ownerOf(all procfs.Procs, inodes map[uint64]bool) int {
	for _, p := range all {
		targets, err := p.FileDescriptorTargets()
		if err != nil {
			continue // another user's process, or gone
		}
		for _, t := range targets {
			rest, ok := strings.CutPrefix(t, "socket:[")
			if !ok {
				continue
			}
			if ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil && inodes[ino] {
				return p.PID
			}
		}
	}
	return 0
}

func byComm(all procfs.Procs, comm string) (int, string) {
	var pids []int
	for _, p := range all {
		if c, err := p.Comm(); err == nil && c == comm {
			pids = append(pids, p.PID)
		}
	}
	switch len(pids) {
	case 0:
		return 0, "no process named " + comm
	case 1:
		return pids[0], ""
	default:
		return 0, fmt.Sprintf("%d processes named %s and none on the expected port", len(pids), comm)
	}
}

// CPUSample is the machine's and each process's CPU time at one moment.
type CPUSample struct {
	At    time.Time
	Cores int
	Box   float64   // busy seconds of the whole machine since boot
	Procs []float64 // CPU seconds (user + system) of each process, -1 when unreadable
}

// Sample reads /proc/stat and /proc/<pid>/stat of every process found.
func (m *CPUMeter) Sample() (CPUSample, error) {
	st, err := m.fs.Stat()
	if err != nil {
		return CPUSample{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	s := CPUSample{At: time.Now(), Cores: len(st.CPU), Box: busy(st.CPUTotal)}
	if s.Cores == 0 {
		s.Cores = runtime.NumCPU()
	}
	for _, p := range m.procs {
		sec := -1.0
		if p.pid > 0 {
			if proc, err := m.fs.Proc(p.pid); err == nil {
				if ps, err := proc.Stat(); err == nil {
					sec = ps.CPUTime()
				}
			}
		}
		s.Procs = append(s.Procs, sec)
	}
	return s, nil
}

// busy is the CPU time not spent idle: iowait is idle time too, and guest time is already
// part of user time.
func busy(c procfs.CPUStat) float64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
}

// ProcessCPU is one line of the CPU table.
type ProcessCPU struct {
	Name         string  `json:"name"`
	PID          int     `json:"pid,omitempty"`
	Seconds      float64 `json:"cpuSeconds"`
	Cores        float64 `json:"cores"` // average cores busy over the window
	MsPerOrder   float64 `json:"msPerOrder,omitempty"`
	MsPerRequest float64 `json:"msPerRequest"`
	Missing      string  `json:"missing,omitempty"`
}

// CPU is the CPU accounting of a measured window.
type CPU struct {
	From      time.Duration `json:"fromNs"` // start of the window since the start of the run
	Window    time.Duration `json:"windowNs"`
	Cores     int           `json:"cores"`
	Requests  int           `json:"requests"` // requests sent in the window
	Orders    int           `json:"orders"`   // orders accepted (201) among them
	Processes []ProcessCPU  `json:"processes"`
	Listed    ProcessCPU    `json:"listed"` // Σ of Processes
	Other     ProcessCPU    `json:"other"`  // the rest of the machine: Box − Listed
	Box       ProcessCPU    `json:"box"`    // the whole machine, from /proc/stat
	// OrdersPerSecPerCore is orders per second of box CPU: what one core sustains at this
	// cost per order, the figure efficiency is judged by.
	OrdersPerSecPerCore float64 `json:"ordersPerSecPerCore,omitempty"`
	// OrdersPerSecPerCoreListed counts only the listed processes: the figure to read when
	// other work shares the machine.
	OrdersPerSecPerCoreListed float64 `json:"ordersPerSecPerCoreListed,omitempty"`
}

// CPUUsage turns two samples of the same meter into the CPU table of the window between them.
func (m *CPUMeter) CPUUsage(from, to CPUSample, start time.Time, requests, orders int) CPU {
	c := CPU{From: from.At.Sub(start), Window: to.At.Sub(from.At), Cores: to.Cores, Requests: requests, Orders: orders}
	line := func(name string, pid int, sec float64) ProcessCPU {
		l := ProcessCPU{Name: name, PID: pid, Seconds: sec}
		if c.Window > 0 {
			l.Cores = sec / c.Window.Seconds()
		}
		if orders > 0 {
			l.MsPerOrder = 1000 * sec / float64(orders)
		}
		if requests > 0 {
			l.MsPerRequest = 1000 * sec / float64(requests)
		}
		return l
	}
	listed := 0.0
	for i, p := range m.procs {
		if p.pid == 0 || i >= len(from.Procs) || i >= len(to.Procs) || from.Procs[i] < 0 || to.Procs[i] < 0 {
			why := p.missing
			if why == "" {
				why = fmt.Sprintf("pid %d could not be read (exited?)", p.pid)
			}
			c.Processes = append(c.Processes, ProcessCPU{Name: p.Name, PID: p.pid, Missing: why})
			continue
		}
		sec := to.Procs[i] - from.Procs[i]
		listed += sec
		c.Processes = append(c.Processes, line(p.Name, p.pid, sec))
	}
	box := to.Box - from.Box
	c.Listed = line("Σ processes above", 0, listed)
	c.Other = line("other processes", 0, max(0, box-listed))
	c.Box = line("whole machine", 0, box)
	if orders > 0 && box > 0 {
		c.OrdersPerSecPerCore = float64(orders) / box
	}
	if orders > 0 && listed > 0 {
		c.OrdersPerSecPerCoreListed = float64(orders) / listed
	}
	return c
}

// Process is the line of the named process, if it was measured.
func (c CPU) Process(name string) (ProcessCPU, bool) {
	for _, p := range c.Processes {
		if p.Name == name && p.Missing == "" {
			return p, true
		}
	}
	return ProcessCPU{}, false
}
