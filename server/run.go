package server

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/licensekit/licensekit/adapters/console"
	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/adapters/metrics"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensefile"
	"github.com/licensekit/licensekit/pool"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
	"github.com/licensekit/licensekit/webhook"
)

// config is what the flags and the environment choose.
type config struct {
	addr     string
	sqlite   string
	postgres string
	blobs    string        // attachments directory
	interval time.Duration // background loop period
	limits   lkhttp.Limits
	proxies  []netip.Prefix // trusted reverse proxies (X-Forwarded-For)
	// checkpointKey is the Ed25519 key file of event-chain checkpoints ("" = off).
	checkpointKey   string
	checkpointEvery time.Duration
	// ownerKeyFile, when set, receives the owner key issued by this start
	// (mode 0600) instead of standard output.
	ownerKeyFile string
	// newOwnerKey issues a further owner key at this start (a lost key).
	newOwnerKey bool
	// sqliteSync is the SQLite file's synchronous setting (Full or Normal).
	sqliteSync sqlite.Synchronous
	// logFormat is "text" or "json".
	logFormat string
	// metricsAddr is the listen address of /metrics ("" = no metrics);
	// pprof also serves net/http/pprof there.
	metricsAddr string
	pprof       bool
	// tlsCert and tlsKey are the PEM files of the server's certificate
	// (both or neither); insecureHTTP allows plain HTTP on a non-loopback
	// address.
	tlsCert, tlsKey string
	insecureHTTP    bool
	// configFile is the optional file of flag values (-config).
	configFile string
	// licenseKey is the Ed25519 key file that signs borrowed seats' license
	// files ("" = borrowing off).
	licenseKey string
	// offlineGrace is how long a valid validation answer may be relied on offline.
	offlineGrace time.Duration
	webhooks     *webhookConfig
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	return parseFlags(args, getenv, stderr, nil)
}

// FlagNames returns the names of Run's flags, for a configuration file
// shared with other commands (see ApplyConfigFile).
func FlagNames() []string {
	var names []string
	_, _ = parseFlags(nil, func(string) string { return "" }, io.Discard, func(fs *flag.FlagSet) {
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	})
	return names
}

// parseFlags parses args; with inspect set it only defines the flags and
// hands them to inspect.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer, inspect func(*flag.FlagSet)) (config, error) {
	def := func(env, fallback string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fallback
	}
	var envErr error
	num := func(env string, fallback float64) float64 {
		v := getenv(env)
		if v == "" {
			return fallback
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			envErr = cmp.Or(envErr, fmt.Errorf("%s must be a number >= 0, not %q", env, v))
		}
		return f
	}
	var c config
	var authRate, authBurst, valRate, valBurst float64
	var proxies string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", def("LICENSEKIT_ADDR", "127.0.0.1:8080"), "listen address (env LICENSEKIT_ADDR)")
	fs.StringVar(&c.sqlite, "sqlite", def("LICENSEKIT_SQLITE", "licensekit.db"), "SQLite database file (env LICENSEKIT_SQLITE)")
	syncFlag := def("LICENSEKIT_SQLITE_SYNC", "full")
	fs.StringVar(&syncFlag, "sqlite-sync", syncFlag, "SQLite durability: full (every commit is on disk before the answer) or normal (the last transactions before a power loss or OS crash may be lost, never the file's consistency; a crash of the server alone loses nothing) (env LICENSEKIT_SQLITE_SYNC)")
	fs.StringVar(&c.postgres, "postgres", def("LICENSEKIT_POSTGRES", ""), "PostgreSQL DSN; when set, used instead of SQLite (env LICENSEKIT_POSTGRES)")
	fs.StringVar(&c.blobs, "attachments", def("LICENSEKIT_ATTACHMENTS", ""), "directory of pool attachments (default: next to the SQLite file, or ./licensekit-attachments with PostgreSQL; env LICENSEKIT_ATTACHMENTS)")
	fs.StringVar(&c.ownerKeyFile, "owner-key-file", def("LICENSEKIT_OWNER_KEY_FILE", ""), "write the owner API key issued at the first start (or by -new-owner-key) to this file, mode 0600, instead of printing it (env LICENSEKIT_OWNER_KEY_FILE)")
	fs.BoolVar(&c.newOwnerKey, "new-owner-key", false, "issue a further owner API key at this start (when the first one is lost; revoke the lost one with DELETE /v1/apikeys/{id})")
	fs.DurationVar(&c.interval, "interval", 10*time.Second, "period of the background loops (top-up notifications, subscription tick)")
	fs.Float64Var(&authRate, "auth-fail-rate", num("LICENSEKIT_AUTH_FAIL_RATE", lkhttp.DefaultFailedAuth.PerMinute),
		"failed authentications allowed a minute per client address and per key prefix, beyond the burst; 0 turns the limit off (env LICENSEKIT_AUTH_FAIL_RATE)")
	fs.Float64Var(&authBurst, "auth-fail-burst", num("LICENSEKIT_AUTH_FAIL_BURST", float64(lkhttp.DefaultFailedAuth.Burst)),
		"failed authentications allowed at once per client address and per key prefix (env LICENSEKIT_AUTH_FAIL_BURST)")
	fs.Float64Var(&valRate, "validate-rate", num("LICENSEKIT_VALIDATE_RATE", lkhttp.DefaultValidation.PerMinute),
		"validations and activations allowed a minute per pool, license or license key, beyond the burst; 0 turns the limit off (env LICENSEKIT_VALIDATE_RATE)")
	fs.Float64Var(&valBurst, "validate-burst", num("LICENSEKIT_VALIDATE_BURST", float64(lkhttp.DefaultValidation.Burst)),
		"validations and activations allowed at once per pool, license or license key (env LICENSEKIT_VALIDATE_BURST)")
	fs.StringVar(&proxies, "trusted-proxies", getenv("LICENSEKIT_TRUSTED_PROXIES"),
		"comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client; none by default: the peer address is the client (env LICENSEKIT_TRUSTED_PROXIES)")
	fs.StringVar(&c.checkpointKey, "checkpoint-key", def("LICENSEKIT_CHECKPOINT_KEY", ""), "Ed25519 key file (PEM) that signs event-chain checkpoints, created with mode 0600 if missing; keep it off the database host (env LICENSEKIT_CHECKPOINT_KEY; empty: no checkpoints)")
	fs.DurationVar(&c.checkpointEvery, "checkpoint-interval", time.Hour, "period of the event-chain checkpoints (with -checkpoint-key)")
	fs.StringVar(&c.logFormat, "log-format", def("LICENSEKIT_LOG_FORMAT", "text"), "log format: text (key=value) or json, one object a line (env LICENSEKIT_LOG_FORMAT)")
	fs.StringVar(&c.metricsAddr, "metrics-addr", def("LICENSEKIT_METRICS_ADDR", ""), "listen address of GET /metrics (Prometheus) and, with -pprof, /debug/pprof/; keep it reachable by operators only (env LICENSEKIT_METRICS_ADDR; empty: no metrics)")
	fs.BoolVar(&c.pprof, "pprof", envBool(getenv, "LICENSEKIT_PPROF", &envErr), "serve net/http/pprof under /debug/pprof/ on -metrics-addr (env LICENSEKIT_PPROF)")
	fs.StringVar(&c.tlsCert, "tls-cert", def("LICENSEKIT_TLS_CERT", ""), "PEM certificate chain file: serve HTTPS (with -tls-key; both files are read again on SIGHUP) (env LICENSEKIT_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", def("LICENSEKIT_TLS_KEY", ""), "PEM private key file of -tls-cert (env LICENSEKIT_TLS_KEY)")
	fs.BoolVar(&c.insecureHTTP, "insecure-http", envBool(getenv, "LICENSEKIT_INSECURE_HTTP", &envErr), "allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy); without it such an address needs -tls-cert (env LICENSEKIT_INSECURE_HTTP)")
	fs.StringVar(&c.configFile, "config", def("LICENSEKIT_CONFIG", ""), "file of flag values, one name = value a line; a flag or an environment variable wins over it (env LICENSEKIT_CONFIG)")
	fs.StringVar(&c.licenseKey, "license-key", def("LICENSEKIT_LICENSE_KEY", ""), "Ed25519 key file (PEM) that signs the license files of borrowed seats, created with mode 0600 if missing; its key id and public key are logged at start for the product to ship (env LICENSEKIT_LICENSE_KEY; empty: borrowing answers 503)")
	fs.DurationVar(&c.offlineGrace, "offline-grace", lkhttp.DefaultOfflineGrace, "how long a product may rely on a valid validation answer while it cannot reach the server (offline_until); negative: none")
	c.webhooks = webhookFlags(fs, def)
	if inspect != nil {
		inspect(fs)
		return c, nil
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if envErr != nil {
		return c, envErr
	}
	if err := ApplyConfigFile(fs, c.configFile, getenv, nil); err != nil {
		return c, err
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return c, fmt.Errorf("-log-format must be text or json, not %q", c.logFormat)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return c, errors.New("-tls-cert and -tls-key go together")
	}
	if c.pprof && c.metricsAddr == "" {
		return c, errors.New("-pprof needs -metrics-addr (profiles are served there only)")
	}
	switch strings.ToLower(syncFlag) {
	case "full":
		c.sqliteSync = sqlite.Full
	case "normal":
		c.sqliteSync = sqlite.Normal
	default:
		return c, fmt.Errorf("-sqlite-sync must be full or normal, not %q", syncFlag)
	}
	var err error
	if c.limits.FailedAuth, err = rate("auth-fail", authRate, authBurst); err != nil {
		return c, err
	}
	if c.limits.Validation, err = rate("validate", valRate, valBurst); err != nil {
		return c, err
	}
	if c.proxies, err = parseProxies(proxies); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.blobs == "" {
		c.blobs = c.sqlite + ".attachments"
		if c.postgres != "" {
			c.blobs = "licensekit-attachments"
		}
	}
	c.webhooks.defaults(c)
	if c.interval <= 0 {
		return c, errors.New("-interval must be positive")
	}
	if c.checkpointEvery <= 0 {
		return c, errors.New("-checkpoint-interval must be positive")
	}
	return c, nil
}

// rate is the limit of -<name>-rate and -<name>-burst: a rate of 0 turns it off.
func rate(name string, perMinute, burst float64) (lkhttp.Rate, error) {
	if perMinute < 0 || burst < 0 || burst != math.Trunc(burst) {
		return lkhttp.Rate{}, fmt.Errorf("-%s-rate must be >= 0 and -%s-burst a whole number >= 1", name, name)
	}
	if perMinute == 0 {
		return lkhttp.NoLimit, nil
	}
	if burst < 1 {
		return lkhttp.Rate{}, fmt.Errorf("-%s-burst must be at least 1 (turn the limit off with -%s-rate 0)", name, name)
	}
	return lkhttp.Rate{PerMinute: perMinute, Burst: int(burst)}, nil
}

// parseProxies reads a comma-separated list of addresses and CIDR ranges.
func parseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("-trusted-proxies: %q is neither an address nor a CIDR range", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// openStore opens the store c chooses, reporting its transactions to obs
// when set.
func openStore(ctx context.Context, c config, obs *storage.Observer) (storage.Store, string, error) {
	if c.postgres != "" {
		var opts []postgres.Option
		if obs != nil {
			opts = append(opts, postgres.WithObserver(*obs))
		}
		s, err := postgres.Open(ctx, c.postgres, opts...)
		return s, "PostgreSQL", err
	}
	opts := []sqlite.Option{sqlite.WithSynchronous(cmp.Or(c.sqliteSync, sqlite.Full))}
	if obs != nil {
		opts = append(opts, sqlite.WithObserver(*obs))
	}
	s, err := sqlite.Open(c.sqlite, opts...)
	return s, "SQLite " + c.sqlite + " (synchronous " + string(cmp.Or(c.sqliteSync, sqlite.Full)) + ")", err
}

// signerOf is key as a crypto.Signer, nil (no checkpoints) for no key.
func signerOf(key ed25519.PrivateKey) crypto.Signer {
	if key == nil {
		return nil
	}
	return key
}

// started is told the address and the demo key once the server listens (tests use it).
type started func(addr string, d Demo)

// Run runs the reference server with the command-line arguments args (the
// flags the package documentation lists; getenv supplies the environment
// fallbacks, usually os.Getenv) until ctx is cancelled, then shuts it down
// gracefully. The welcome text (the demo data and how to try it) goes to
// stdout, the log to stderr.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr, nil)
}

// UsageError is Run's error for a mistake in its arguments, the environment
// or the config file: nothing was started.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// newLogger is the server's logger in format ("text" or "json").
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// run starts the server and blocks until ctx is cancelled, then shuts down.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onStart started) error {
	c, err := parseConfig(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	log := newLogger(c.logFormat, stderr)
	clock := license.SystemClock{}

	var cert *certificate
	if c.tlsCert != "" {
		if cert, err = loadCertificate(c.tlsCert, c.tlsKey); err != nil {
			return err
		}
	}
	// Listen before touching the store: an address refused here changes nothing.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if err := checkExposure(ln, cert != nil, c.insecureHTTP); err != nil {
		return UsageError{err}
	}
	var m *metrics.Metrics
	var mln net.Listener
	var obs *storage.Observer
	if c.metricsAddr != "" {
		if mln, err = net.Listen("tcp", c.metricsAddr); err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		defer mln.Close()
		if err := checkExposure(mln, cert != nil, c.insecureHTTP); err != nil {
			return UsageError{fmt.Errorf("-metrics-addr: %w", err)}
		}
		m = metrics.New()
		o := m.StoreObserver()
		obs = &o
	}

	store, what, err := openStore(ctx, c, obs)
	if err != nil {
		return err
	}
	defer store.Close()
	whKey, err := loadWebhookKey(c.webhooks.keyFile)
	if err != nil {
		return err
	}
	store = webhook.Wrap(store) // every change's events get their webhook deliveries

	d, fresh, err := EnsureDemo(ctx, store, clock)
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	key, err := issueOwnerKey(ctx, store, clock, c, d)
	if err != nil {
		return fmt.Errorf("issue the owner key: %w", err)
	}
	d.Key = key.key

	var cpKey ed25519.PrivateKey
	if c.checkpointKey != "" {
		k, created, err := LoadCheckpointKey(c.checkpointKey)
		if err != nil {
			return err
		}
		cpKey = k
		log.Info("event chain checkpoints", "key", c.checkpointKey, "created", created, "key_id", eventlog.KeyID(k.Public().(ed25519.PublicKey)),
			"public_key", hex.EncodeToString(k.Public().(ed25519.PublicKey)), "every", c.checkpointEvery)
	}

	var licKey ed25519.PrivateKey
	if c.licenseKey != "" {
		k, created, err := loadKeyFile(c.licenseKey, "license")
		if err != nil {
			return err
		}
		licKey = k
		pub := k.Public().(ed25519.PublicKey)
		log.Info("license files of borrowed seats", "key", c.licenseKey, "created", created, "key_id", licensefile.KeyID(pub),
			"public_key", hex.EncodeToString(pub))
	}

	svc := lkhttp.Services{Pools: &pool.Service{Store: store, Clock: clock, Blobs: fileBlobs{dir: c.blobs}},
		Webhooks: webhookService(store, clock, whKey, c.webhooks)}
	api, err := lkhttp.New(lkhttp.Config{Store: store, Clock: clock, Logger: log, Services: svc,
		Limits: c.limits, TrustedProxies: c.proxies, CheckpointSigner: signerOf(cpKey),
		LicenseKey: licKey, OfflineGrace: c.offlineGrace})
	if err != nil {
		return err
	}
	ui, err := console.New(console.Config{Store: store, Clock: clock, Logger: log, Billing: svc.Billing,
		TopUp: svc.TopUp, APIKeys: svc.APIKeys, Pools: svc.Pools, Volume: svc.Volume, Subscriptions: svc.Subscriptions})
	if err != nil {
		return err
	}
	scheme := "http"
	if cert != nil {
		scheme = "https"
	}
	base := scheme + "://" + ln.Addr().String()
	printWelcome(stdout, base, what, d, fresh, key)

	var h http.Handler = withConsole(api, ui)
	if m != nil {
		h = m.Middleware(h, routeOf(api))
	}
	if cert != nil {
		h = withHSTS(h)
	}
	srv := newServer(h, log)
	srv.RegisterOnShutdown(api.Drain) // requests waiting for a seat answer 503 rather than hold the shutdown
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if m != nil {
		ms := newServer(metricsHandler(m, c.pprof), log)
		servers, listeners = append(servers, ms), append(listeners, mln)
		log.Info("metrics", "addr", scheme+"://"+mln.Addr().String()+"/metrics", "pprof", c.pprof)
	}
	if cert != nil {
		for i, l := range listeners {
			listeners[i] = tls.NewListener(l, cert.config())
		}
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	loops := backgroundLoops(store, clock, log, c, cpKey, m)
	loops = append(loops, webhookLoop(store, clock, whKey, c, log))
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(bg, l.every, log, l.name, l.once)
		}()
	}
	if cert != nil {
		// Subscribed before the server is up, so that a SIGHUP from then on
		// reloads (and never takes the default action, ending the process).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		wg.Add(1)
		go func() {
			defer wg.Done()
			reloadOnHangup(bg, hup, cert, log)
		}()
	}

	serveErr := make(chan error, len(servers))
	for i, s := range servers {
		go func() { serveErr <- s.Serve(listeners[i]) }()
	}
	if onStart != nil {
		onStart(base, d)
	}
	log.Info("listening", "addr", base, "store", what, "tls", cert != nil)

	var failed error
	select {
	case <-ctx.Done():
	case failed = <-serveErr:
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		err = errors.Join(err, s.Shutdown(shutCtx))
	}
	stopBG()
	wg.Wait()
	n := len(servers)
	if failed != nil {
		n--
	}
	for range n {
		if e := <-serveErr; e != nil && !errors.Is(e, http.ErrServerClosed) && failed == nil {
			failed = e
		}
	}
	log.Info("stopped")
	return cmp.Or(failed, err)
}

// routeOf labels a request for the metrics: the API route's pattern, the
// console, or none (metrics.Unmatched).
func routeOf(api *lkhttp.Handler) func(*http.Request) string {
	return func(r *http.Request) string {
		if p := api.Pattern(r); p != "" {
			return p
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			return ""
		}
		return "console"
	}
}

// metricsHandler serves /metrics and, with withPprof, net/http/pprof.
func metricsHandler(m *metrics.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// reloadOnHangup reads the TLS certificate again on every signal of hup
// until ctx ends.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, cert *certificate, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := cert.reload(); err != nil {
				log.Error("TLS certificate not reloaded; the current one stays", "error", err.Error())
				continue
			}
			log.Info("TLS certificate reloaded", "cert", cert.certFile)
		}
	}
}

// withConsole serves the REST API's routes (and every path under /v1/, so an
// unknown API path is the API's JSON 404) with api, and everything else with
// the web console.
func withConsole(api *lkhttp.Handler, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") || api.Matches(r) {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	})
}

// newServer is the HTTP server of the reference server. Every phase of a
// connection has a bound: reading the request (headers, then body), idling
// between requests, and writing the response. The API handler moves the write
// deadline forward before each write (lkhttp.Config.WriteTimeout, 30 s by
// default), so a client that reads gets a response of any length, such as a
// long event log export, while one that stops reading is cut off; WriteTimeout
// here bounds what comes before the first write.
func newServer(api http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// loop runs a round at once and then every interval until ctx ends; a round
// in progress is not cut short by shutdown (it has its own deadline).
func loop(ctx context.Context, every time.Duration, log *slog.Logger, name string, once func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), every)
		if err := once(rctx); err != nil {
			log.Warn("background round failed", "loop", name, "error_code", string(license.ErrorCode(err)), "error", license.ErrorMessage(err))
		}
		cancel()
		select {
		case <-ctx.Done():
			log.Info("background loop stopped", "loop", name)
			return
		case <-t.C:
		}
	}
}

func printWelcome(w io.Writer, base, store string, d Demo, fresh bool, key ownerKey) {
	if fresh {
		fmt.Fprintf(w, "licensekit: created demo data in %s (company %q, owner %s)\n", store, d.CompanyName, d.Owner)
	} else {
		fmt.Fprintf(w, "licensekit: using %s (demo company %q)\n", store, d.CompanyName)
	}
	switch {
	case key.reused:
		fmt.Fprintf(w, "\nThe owner API key was issued at the first start on this store and is not shown again (keys are stored\n")
		fmt.Fprintf(w, "only as hashes). Set LK to it")
		if key.file != "" {
			fmt.Fprintf(w, " (written to %s then): export LK=\"$(cat %s)\"", key.file, key.file)
		}
		fmt.Fprintf(w, ".\nLost it? Start once with -new-owner-key to issue another, then revoke the lost one (GET and DELETE /v1/apikeys).\n\n")
	case key.file != "":
		fmt.Fprintf(w, "\nAn owner API key was issued and written to %s (mode 0600; keys are stored hashed, it is not printed):\n\n", key.file)
		fmt.Fprintf(w, "export LK=\"$(cat %s)\"\n", key.file)
	default:
		fmt.Fprintf(w, "\nAn owner API key was issued (shown this once; keys are stored hashed and later starts print none):\n\n")
		fmt.Fprintf(w, "export LK=%s\n", d.Key)
	}
	fmt.Fprintf(w, "export HELSINKI=%s TAMPERE=%s OULU=%s\n\n", d.Helsinki, d.Tampere, d.Oulu)
	fmt.Fprintf(w, "Try it (%s is the API, %s/openapi.json documents it):\n\n", base, base)
	for _, line := range curlCommands(base, d) {
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nMore keys: curl -s -X POST %s/v1/apikeys -H \"Authorization: Bearer $LK\" -H 'Content-Type: application/json' -d '{\"email\":\"ci@demo.example\",\"role\":\"viewer\"}'\n", base)
	fmt.Fprintf(w, "Web console: open %s/ in a browser and sign in with the owner API key ($LK).\n", base)
	fmt.Fprintf(w, "Stop with Ctrl-C.\n\n")
}

// curlCommands are the walkthrough: purchase preview, purchase, transfer,
// top-up, event log export. The README shows them and a test runs them.
func curlCommands(base string, d Demo) []string {
	auth := `-H "Authorization: Bearer $LK"`
	js := `-H 'Content-Type: application/json'`
	return []string{
		fmt.Sprintf(`curl -s %s/v1/sites %s`, base, auth),
		fmt.Sprintf(`curl -s -X POST %s/v1/sites/$OULU/purchase/preview %s %s -d '{"quantity":30}'`, base, auth, js),
		fmt.Sprintf(`curl -s -X POST %s/v1/sites/$OULU/purchase %s %s -H 'Idempotency-Key: demo-purchase-%s' -d '{"quantity":30}'`, base, auth, js, d.Oulu[len(d.Oulu)-8:]),
		fmt.Sprintf(`curl -s -X POST %s/v1/transfers %s %s -d '{"from":"'$HELSINKI'","to":"'$OULU'","quantity":5}'`, base, auth, js),
		fmt.Sprintf(`curl -s -X POST %s/v1/topup/enable %s %s -d '{"accepted_terms_version":"2026-01"}'`, base, auth, js),
		fmt.Sprintf(`curl -s -X POST %s/v1/sites/$TAMPERE/enroll %s %s -d '{"quantity":4}'`, base, auth, js),
		fmt.Sprintf(`curl -s "%s/v1/events/export?view=current&sort=time&desc=true" %s -o events.csv`, base, auth),
	}
}
