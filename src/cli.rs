//! Command-line surface (clap derive). Every option a user can see has help text here.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// What IPv6 sensors see: packet captures in, flows, names, timelines and IPv6 health out.
#[derive(Debug, Parser)]
#[command(name = "v6watch", version, about, long_about = None, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Tables: every column whole and each record on one line, however wide. By default table
    /// lines fit in 100 columns: long values are cut with `…` and a long last column (names,
    /// requests, DNS answers) continues on the lines below.
    #[arg(long, global = true)]
    pub wide: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Overview per sensor: packets, bytes, time span, link types, IPv4/IPv6 split (outer and
    /// inner), tunnels, sensor addresses, roles, connection states, top talkers, anomalies;
    /// then the analysis in short: event windows, what moved to IPv6, IPv6 health.
    Summary {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// Output format: the table adds the analysis' answers (event windows, what moved to
        /// IPv6, IPv6 health); JSON holds the capture statistics (the whole analysis is
        /// `report --json`).
        #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
        format: SummaryFormat,
    },
    /// One record per flow with Zeek conn.log field names, plus sensor, role, ip_version and tunnel.
    Flows {
        #[command(flatten)]
        input: InputArgs,
        /// TOML configuration: its sensors (files and addresses) are used, as by the analyses.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FlowFormat::Table)]
        format: FlowFormat,
        /// Time zone of the table's times (IANA name, e.g. Asia/Tokyo). Default: UTC, or the
        /// config's `tz`. JSON Lines and CSV keep epoch seconds.
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
    },
    /// One command per application event type (`dns`, `http`, `tls`): see [`EventCommand`].
    #[command(flatten)]
    Events(EventCommand),
    /// IPv6 health: connection outcomes per family, Happy-Eyeballs fallbacks, Path-MTU black
    /// holes, AAAA answers not used, broken return paths, services that changed family; a
    /// per-service table and deduplicated findings. Exits 1 when a finding reaches --fail-on.
    Health {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// Output format: a terminal report, or one JSON object per line (findings, services,
        /// fallbacks, pmtu, aaaa_unused, return_path, service_event, outcome), each with a `type`.
        #[arg(long, value_enum, default_value_t = HealthFormat::Table)]
        format: HealthFormat,
        /// Exit with status 1 when a finding reaches this severity.
        #[arg(long, value_enum, default_value_t = FailOn::Warning)]
        fail_on: FailOn,
        /// Also write Prometheus text-format metrics to FILE (atomically, for node_exporter's
        /// textfile collector).
        #[arg(long, value_name = "FILE")]
        prometheus: Option<PathBuf>,
        /// Services labelled by name in the metrics; the rest are summed as service="other".
        #[arg(long, default_value_t = 10)]
        top_services: usize,
        /// In the same pass, write the records to DIR (created if needed): flows.jsonl,
        /// dns.jsonl, http.jsonl and tls.jsonl, as `flows`, `dns`, `http` and `tls` write
        /// them with --format jsonl. Files appear only when the run succeeds.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
    },
    /// The whole analysis as one self-contained HTML file: timeline per sensor (event windows
    /// shaded), peers, services that moved to IPv6, application events, IPv6 health, capture
    /// statistics and the settings used. `--json` writes the same analysis as JSON.
    Report {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// HTML file to write (`-`: standard output).
        #[arg(short, long, default_value = "report.html")]
        out: PathBuf,
        /// Also write the analysis as JSON (schema v6watch.report/1, see README).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// In the same pass, write the records to DIR (created if needed): flows.jsonl,
        /// dns.jsonl, http.jsonl and tls.jsonl, as `flows`, `dns`, `http` and `tls` write
        /// them with --format jsonl. Files appear only when the run succeeds.
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
        /// While a pipe (`-`) is being read, rewrite the report (and --json) every SECONDS with
        /// everything so far, without ending the input; each file is replaced whole (written
        /// under a temporary name, then renamed), so a reader never sees half of one. Sensors
        /// still being read appear with their records but without capture statistics.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        snapshot_every: Option<u64>,
        /// Render the fleet analysis instead of analysing captures: the JSON document
        /// (v6watch.fleet/1) that the repository's sql/fleet.py (DuckDB, DataFusion) or
        /// jobs/spark/fleet.py (Spark) wrote from the datasets of many sensors.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["captures", "records", "json", "export", "snapshot_every"])]
        fleet: Option<PathBuf>,
    },
    /// The records as Parquet datasets any engine reads (Spark, DataFusion, DuckDB, pandas):
    /// DIR/flows/, dns/, http/, tls/, smtp/, and the IPv6-health analysis's attempts/ and
    /// findings/, each partitioned as sensor=NAME/date=YYYY-MM-DD/part-N.parquet (zstd).
    /// `--records DIR` reads the datasets back; the SQL in the repository's sql/ runs on them.
    /// Partitions written again replace their earlier files; files appear only when the run
    /// succeeds.
    Export {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// Folder to write the datasets into (created if needed).
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Bytes and packets per time bucket, per sensor, IP version, direction, role and class.
    Timeline {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// Output format: a table per sensor (IPv4/IPv6 in/out per bucket), one CSV row per
        /// bucket and series, or JSON.
        #[arg(long, value_enum, default_value_t = TimelineFormat::Table)]
        format: TimelineFormat,
    },
    /// Remote peers per sensor: address, names with provenance, organisation, volumes, flows,
    /// first/last seen; grouped by /64, /48 and registrable domain with --group.
    Peers {
        #[command(flatten)]
        input: InputArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
        format: SummaryFormat,
        /// Group peers instead of listing addresses.
        #[arg(long, value_enum)]
        group: Option<PeerGrouping>,
        /// Only peers seen inside this event window (its name from --event or the config).
        #[arg(long, value_name = "EVENT")]
        during: Option<String>,
        /// Only IPv4 or IPv6 peers: 4, 6, ipv4 or ipv6.
        #[arg(long, value_parser = parse_family)]
        family: Option<u8>,
    },
    /// Address intelligence, like addr6: special-purpose block, scope, embedded IPv4 (mapped,
    /// NAT64, 6to4, Teredo server/client/port, ISATAP), interface-ID class, wordy IIDs, the MAC
    /// and NIC vendor of EUI-64 addresses. Sends nothing anywhere.
    Addr {
        /// IPv6 (or IPv4) addresses.
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = SummaryFormat::Table)]
        format: SummaryFormat,
        #[command(flatten)]
        intel: AddrArgs,
    },
    /// Write the World IPv6 Day sample captures (honeypot1, honeypot2), their configuration and
    /// their report (report.html, report.json), and answer the seed's questions in the terminal.
    Demo {
        /// Directory to write the captures into.
        #[arg(short, long, default_value = "v6watch-demo")]
        out: PathBuf,
        /// Seed of the deterministic generator.
        #[arg(long, default_value_t = 2011)]
        seed: u64,
        /// Approximate total size, e.g. 2G: the same scenario with its bulk transfers scaled up
        /// (a benchmark input with the demo's structure). Default: about 30 MB.
        #[arg(long, value_parser = parse_size)]
        size: Option<u64>,
    },
    /// Write a synthetic mixed capture for benchmarks (TCP with payload, DNS, HTTP, TLS, UDP,
    /// ICMPv6, IPv4 and IPv6, many concurrent flows, a scan-like share).
    Generate {
        /// Output pcap file.
        #[arg(short, long)]
        out: PathBuf,
        /// Approximate size, e.g. 200M, 1G, 4G.
        #[arg(long, default_value = "100M", value_parser = parse_size)]
        size: u64,
        /// Seed of the deterministic generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Concurrent flows to keep open.
        #[arg(long, default_value_t = 20_000)]
        concurrent: usize,
        /// Mean capture-time gap between packets in microseconds. The default packs 1 GB into
        /// ~8 s of capture time (shorter than the flow timeouts); 250 spreads it over ~5 min so
        /// flows expire as on a real link (use it to check that memory stays flat).
        #[arg(long, default_value_t = 6.0)]
        gap_us: f64,
        /// Instead of made-up traffic, replay the frames of these captures (files, or folders
        /// searched for .pcap/.pcapng/.cap/.gz/.zst) round after round until --size: each
        /// round later in time with every address moved (checksums stay valid), so its flows
        /// are new. E.g. `--replay ../shared/corpus` for a real-traffic benchmark capture.
        #[arg(long, value_name = "CAPTURE", num_args = 1..)]
        replay: Vec<PathBuf>,
    },
    /// Capture live on the sensor's interfaces (libpcap; needs root or CAP_NET_RAW and
    /// CAP_NET_ADMIN): keep the capture as a ring of pcapng files like dumpcap (-w DIR),
    /// write flows and events as they end, raise findings as they happen, refresh Prometheus
    /// metrics and the report; SIGINT/SIGTERM drains the capture and closes everything.
    Live(Box<LiveArgs>),
    /// Check the services the sensor depends on over IPv4 and IPv6 separately, never falling
    /// back: A and AAAA lookups, TCP connect to each address, TLS, HTTP, a large response
    /// (Path MTU) and a Happy Eyeballs race. Sends packets: only this command (and
    /// --resolve-ptr) ever does. Exit 0: no finding at --fail-on; 1: findings; 2: a target or
    /// the setup could not be probed.
    Probe(ProbeArgs),
    /// Write the manual pages (v6watch.1 and one per command, from these definitions) into
    /// DIR, e.g. /usr/local/share/man/man1.
    Man {
        /// Folder to write the pages into.
        #[arg(short = 'o', long = "out", value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// Print the shell completions for SHELL (bash, zsh, fish, elvish, powershell), e.g.
    /// `v6watch completions bash > /etc/bash_completion.d/v6watch`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Measure `flows` and `report` throughput on captures (MB/s, packets/s), and tshark's in
    /// the same run. It also gives the CPU time of the runs, and what more threads cost in it:
    /// work that grows with threads bounds how much faster they can be. On a virtual machine
    /// it says how much CPU time the host took from the runs (`host steal`): a best time that
    /// contains steal is slower by up to that much.
    Bench {
        /// Captures to measure, each on its own (`v6watch generate` makes one of made-up
        /// traffic, `v6watch generate --replay DIR` one of real traffic replayed).
        #[arg(required_unless_present = "peak_rss")]
        captures: Vec<PathBuf>,
        /// Also time `tshark -q -z conv,tcp -z conv,udp` on the same file.
        #[arg(long)]
        tshark: bool,
        /// Repetitions; the best run is reported (page cache warm after the first).
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Run `v6watch ARGS...` once and print its peak resident memory in KiB (what `bench`
        /// uses to measure each command on its own: a process's children's peak is the
        /// largest of them all).
        #[arg(long, value_name = "ARGS", num_args = 1.., allow_hyphen_values = true, conflicts_with_all = ["captures", "tshark"])]
        peak_rss: Vec<String>,
    },
}

/// Options of `v6watch live`.
#[derive(Debug, Args, Clone)]
pub struct LiveArgs {
    /// Interface to capture on (repeatable: several interfaces of one sensor, each described
    /// in the capture files).
    #[arg(short = 'i', long = "interface", value_name = "IFACE", required = true)]
    pub interfaces: Vec<String>,
    /// Capture filter in tcpdump's syntax (BPF, compiled by libpcap and run in the kernel),
    /// e.g. 'ip6 or port 53'.
    #[arg(short = 'f', long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Snapshot length: bytes kept of each packet.
    #[arg(short = 's', long, default_value_t = 262_144, value_parser = clap::value_parser!(u32).range(64..=262_144))]
    pub snaplen: u32,
    /// Do not put the interfaces into promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer per interface, e.g. 64M (libpcap's default is 2 MiB, which a
    /// burst fills in milliseconds).
    #[arg(short = 'B', long, default_value = "64M", value_parser = parse_size)]
    pub buffer: u64,
    /// How long the kernel holds a partly filled buffer block before handing it over: the
    /// longest a packet waits before v6watch sees it on a quiet link.
    #[arg(long, value_name = "DURATION", default_value = "50ms")]
    pub block_timeout: String,
    /// Sensor name in records, files and metrics. Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// An address of the sensor besides its interfaces' own (repeatable).
    #[arg(long = "sensor-addr", value_name = "ADDR")]
    pub sensor_addrs: Vec<String>,
    /// Keep the capture in DIR as pcapng files NAME_NNNNN_YYYYmmddHHMMSS.pcapng (NAME: the
    /// sensor), each written as .partial and renamed when closed, ending with the interfaces'
    /// statistics (received, dropped).
    #[arg(short = 'w', long = "write", value_name = "DIR")]
    pub write: Option<PathBuf>,
    /// Start a new capture file (and new record files with --out) after this long, e.g. 1h, 10m.
    #[arg(long, value_name = "DURATION")]
    pub rotate: Option<String>,
    /// Start a new capture file when the open one reaches this size, e.g. 1G.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Keep at most N capture files; the oldest is deleted when a new one is closed.
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub files: Option<usize>,
    /// Write the records into DIR as they end, rotated with the capture files:
    /// flows_NNNNN_STAMP.jsonl, facts_..., dns_..., http_..., tls_... (what `--records`
    /// reads), and findings.jsonl. Without it, flows go to standard output.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write the records as the Parquet datasets `export` writes into DIR (flows/, dns/,
    /// http/, tls/, smtp/ by sensor and day), a part per rotation
    /// (part-NNNNN_STAMP-N.parquet, .partial until the rotation closes it).
    #[arg(long, value_name = "DIR")]
    pub dataset: Option<PathBuf>,
    /// Format of the flows on standard output (without --out).
    #[arg(long, value_enum, default_value_t = FlowFormat::Jsonl)]
    pub format: FlowFormat,
    /// Write Prometheus text-format metrics to FILE every --every (atomically): the IPv6-health
    /// metrics of `health --prometheus` plus the capture's counters.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// How often findings are checked and the metrics refreshed.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub every: String,
    /// Services labelled by name in the metrics; the rest are summed as service="other".
    #[arg(long, default_value_t = 10)]
    pub top_services: usize,
    /// Rewrite this HTML report at each rotation and at exit.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// With --report, also the analysis as JSON (schema v6watch.report/1).
    #[arg(long, value_name = "FILE", requires = "report")]
    pub json: Option<PathBuf>,
    /// Stop after this long, as if SIGTERM had come (e.g. 1h).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Worker threads sharing the flows.
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
    /// Live flows kept at most; beyond it the flow closest to expiry is written out early.
    #[arg(long, default_value_t = 250_000, value_parser = parse_positive)]
    pub max_flows: usize,
    /// Skip the application extractors (DNS, HTTP, TLS, QUIC): flows only.
    #[arg(long)]
    pub no_apps: bool,
    /// Also probe, from this process, every DURATION (e.g. 5m): the --probe targets, else the
    /// config's [[probe]] entries, with `v6watch probe`'s defaults. Results and findings go
    /// to --out DIR/probe.jsonl, findings also to stderr, metrics into --prometheus; the
    /// probe's own flows are tagged `autonomous`. Sends packets; off unless given.
    #[arg(long, value_name = "DURATION")]
    pub probe_every: Option<String>,
    /// A target for --probe-every (repeatable), as `v6watch probe` takes them.
    #[arg(long = "probe", value_name = "TARGET", requires = "probe_every")]
    pub probe_targets: Vec<String>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// Options of `v6watch probe`.
#[derive(Debug, Args, Clone)]
pub struct ProbeArgs {
    /// Targets: a URL (http://, https://: kind http), HOST:PORT or [ADDR]:PORT (kind tcp), or a
    /// host name (kind dns). Without any, the config's [[probe]] entries.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Run one round and exit (the default): 0 healthy, 1 findings at --fail-on, 2 a target
    /// could not be probed.
    #[arg(long, conflicts_with = "every")]
    pub once: bool,
    /// Keep probing, one round every DURATION (e.g. 5m), until SIGINT/SIGTERM.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// What the command-line targets test: dns, tcp, tls or http (default: from the form).
    #[arg(long, value_parser = ["dns", "tcp", "tls", "http"])]
    pub kind: Option<String>,
    /// A large response on the same server as the command-line URL targets (a URL or a path),
    /// fetched over each family: a stall is a Path-MTU black hole.
    #[arg(long, value_name = "URL")]
    pub large: Option<String>,
    /// Probe only this family: 4, 6, ipv4 or ipv6 (default both).
    #[arg(long, value_parser = parse_family)]
    pub family: Option<u8>,
    /// Resolver for the A and AAAA lookups, ADDR or ADDR:PORT (default: /etc/resolv.conf's
    /// first nameserver).
    #[arg(long, value_name = "ADDR")]
    pub resolver: Option<String>,
    /// Longest wait for each lookup, connect, handshake and response.
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    pub timeout: String,
    /// A response that sends nothing for this long has stalled (the black-hole signature).
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub stall: String,
    /// Happy Eyeballs head start of IPv6 over IPv4 in the race (RFC 8305 recommends 250 ms).
    #[arg(long, value_name = "DURATION", default_value = "250ms")]
    pub head_start: String,
    /// Targets probed at the same time.
    #[arg(long, default_value_t = 4, value_parser = parse_positive)]
    pub concurrency: usize,
    /// Also trust the CA certificates in this PEM file for TLS (repeatable); the system's
    /// trust store is always used.
    #[arg(long, value_name = "FILE")]
    pub ca: Vec<PathBuf>,
    /// Output on standard output.
    #[arg(long, value_enum, default_value_t = ProbeFormat::Table)]
    pub format: ProbeFormat,
    /// Append every round's results and findings to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write Prometheus text-format metrics to FILE after every round (atomically):
    /// v6watch_probe_success, v6watch_probe_duration_seconds{target,family,phase},
    /// v6watch_probe_he_winner{target}.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
    /// Sensor name in records and metrics. Default: the host name.
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// TOML configuration with [[probe]] targets and probe_ports.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,
    /// Source ports the probe's sockets are bound to, FIRST-LAST. The capture commands tag
    /// the sensor's flows from these ports `autonomous`; keep the two in agreement (config
    /// key probe_ports). Default 61000-61999, above Linux's ephemeral range.
    #[arg(long, value_name = "FIRST-LAST")]
    pub probe_ports: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProbeFormat {
    /// Aligned text, one block per target, then the findings.
    Table,
    /// One JSON object per check (`"type": "probe"`) and per finding (`"type": "finding"`).
    Jsonl,
}

/// Inputs and engine settings shared by the analysis commands.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Capture files (pcap or pcapng, optionally .gz or .zst); `-` reads standard input.
    #[arg(required_unless_present = "records")]
    pub captures: Vec<PathBuf>,
    /// Stored records instead of captures: a dataset folder `export` wrote (Parquet), a
    /// folder of JSON Lines, or the JSON Lines files `flows`, `dns`, `http` and `tls` write
    /// with --format jsonl with the `facts.jsonl` that --export writes beside them (without
    /// it, the IPv6-health rules have no TCP handshake facts). Each file's kind is told by
    /// its lines; several may be given.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "captures")]
    pub records: Vec<PathBuf>,
    /// Read only the frames that match this capture filter, in tcpdump's syntax (BPF,
    /// compiled by libpcap for each link type), e.g. 'ip6 or port 53': as `tcpdump -r FILE
    /// EXPR` would read them. The sensor's own addresses are then inferred from those frames
    /// only: give them (--sensor-addr, the config) when the filter keeps little of its traffic.
    #[arg(short = 'f', long, value_name = "EXPR", conflicts_with = "records")]
    pub filter: Option<String>,
    /// Group files into a sensor: NAME=GLOB matched against the capture paths (repeatable).
    /// Files matching no pattern form one sensor per file stem.
    #[arg(long = "sensor", value_name = "NAME=GLOB")]
    pub sensors: Vec<String>,
    /// A sensor's own address: NAME=ADDR, or ADDR for every sensor (repeatable). Without it,
    /// addresses are inferred from the traffic and the reason is shown.
    #[arg(long = "sensor-addr", value_name = "[NAME=]ADDR")]
    pub sensor_addrs: Vec<String>,
    /// Continue past damaged blocks where the format allows resynchronising.
    #[arg(long)]
    pub keep_going: bool,
    /// Live flows kept at most; beyond it the flow closest to expiry is written out early
    /// (counted as an eviction).
    #[arg(long, default_value_t = 250_000, value_parser = parse_positive)]
    pub max_flows: usize,
    /// Worker threads sharing the flows (default: the number of CPUs). Output is identical
    /// for any number; when the system refuses threads (a task limit), the input is read on
    /// one thread, with a warning.
    #[arg(long, default_value_t = default_threads())]
    pub threads: usize,
    /// Hide the progress bar (it only shows when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Skip the application extractors (DNS, HTTP, TLS, QUIC): flows only. For measuring the
    /// engine alone; names from the capture are then missing.
    #[arg(long)]
    pub no_apps: bool,
    /// A hosts-format file (`ADDRESS NAME...`) naming peers the capture does not name; those
    /// names show with provenance `hosts` (repeatable).
    #[arg(long = "hosts", value_name = "FILE")]
    pub hosts: Vec<PathBuf>,
}

impl InputArgs {
    /// No inputs (for commands that read no capture files).
    pub fn empty() -> InputArgs {
        InputArgs {
            captures: vec![],
            records: vec![],
            filter: None,
            sensors: vec![],
            sensor_addrs: vec![],
            keep_going: false,
            max_flows: 250_000,
            threads: 1,
            no_progress: true,
            no_apps: false,
            hosts: vec![],
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SummaryFormat {
    /// Aligned text for a terminal.
    Table,
    /// One JSON document.
    Json,
}

/// Data the address intelligence uses, shared by `addr` and the analyses.
#[derive(Debug, Args, Clone, Default)]
pub struct AddrArgs {
    /// IEEE registry CSV files (MA-L oui.csv, MA-M mam.csv, MA-S oui36.csv) to use instead of
    /// the built-in 2022-08-27 snapshot for NIC vendors (repeatable).
    #[arg(long = "oui-db", value_name = "FILE")]
    pub oui_db: Vec<PathBuf>,
    /// A network-specific NAT64 prefix in use, PREFIX/LEN with LEN 32, 40, 48, 56, 64 or 96
    /// (RFC 6052): addresses under it show their embedded IPv4 (repeatable).
    #[arg(long = "nat64-prefix", value_name = "PREFIX/LEN")]
    pub nat64: Vec<String>,
}

/// Settings of the analyses (config file, zone, bucket, events, classes).
#[derive(Debug, Args, Clone, Default)]
pub struct AnalysisArgs {
    /// TOML configuration: sensors, rules tagging flows with a class, event windows (see README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time zone for display and day boundaries (IANA name, e.g. Asia/Tokyo; built in, no
    /// system database needed). Default: UTC, or the config's `tz`.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Timeline bucket, e.g. 15m, 1h, 1d. Default: automatic (at most 150 buckets).
    #[arg(long, value_name = "DURATION")]
    pub bucket: Option<String>,
    /// An event window NAME=START/END (RFC 3339), compared with the equal-length windows before
    /// and after it (repeatable).
    #[arg(long = "event", value_name = "NAME=START/END")]
    pub events: Vec<String>,
    /// Leave flows of this class (from the config's rules) out of the analyses (repeatable).
    #[arg(long = "exclude", value_name = "CLASS")]
    pub exclude: Vec<String>,
    #[command(flatten)]
    pub intel: AddrArgs,
    /// MaxMind-format ASN database (e.g. GeoLite2-ASN.mmdb): peers get their AS number and
    /// organisation. Looked up locally, once per address; nothing is sent anywhere.
    #[arg(long = "asn-db", value_name = "FILE")]
    pub asn_db: Option<PathBuf>,
    /// MaxMind-format country or city database (e.g. GeoLite2-Country.mmdb): peers get a
    /// country code.
    #[arg(long = "geo-db", value_name = "FILE")]
    pub geo_db: Option<PathBuf>,
    /// Ask reverse DNS (PTR) for the peers the capture does not name. This sends packets: one
    /// query per address to the resolver, once per run; off unless given.
    #[arg(long)]
    pub resolve_ptr: bool,
    /// Resolver for --resolve-ptr, ADDR or ADDR:PORT (default: /etc/resolv.conf's first).
    #[arg(long, value_name = "ADDR")]
    pub resolver: Option<String>,
    /// How long --resolve-ptr waits for answers, e.g. 3s.
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub ptr_timeout: String,
    /// A list of known-bad destinations to look for (repeatable): domains (matching the names
    /// under them too), addresses, CIDR prefixes and URLs, one per line, `#` comments, also
    /// the DROP form `PREFIX ; ID`. Every flow's addresses and names, DNS queries, TLS names,
    /// HTTP hosts and URLs and mail domains are matched; a match is a warning
    /// (Threat::Indicator_Match). Bad lines are reported (FILE:LINE) and skipped.
    #[arg(long = "indicators", value_name = "FILE")]
    pub indicators: Vec<PathBuf>,
    /// Source ports of `v6watch probe` (FIRST-LAST, or none): the sensor's own flows from
    /// them are tagged with the class `autonomous`. Default: the config's probe_ports, else
    /// 61000-61999.
    #[arg(long, value_name = "FIRST-LAST")]
    pub probe_ports: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TimelineFormat {
    /// Aligned text for a terminal.
    Table,
    /// One row per bucket and series.
    Csv,
    /// One JSON document.
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PeerGrouping {
    /// IPv6 /64 (IPv4 /24).
    P64,
    /// IPv6 /48.
    P48,
    /// Registrable domain of the best name.
    Domain,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum HealthFormat {
    /// Aligned text for a terminal.
    Table,
    /// One JSON object per line, each with a `type` field.
    Jsonl,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    /// Any finding.
    Info,
    /// Warning or critical findings.
    Warning,
    /// Critical findings only.
    Critical,
    /// Never exit 1 because of findings.
    Never,
}

impl FailOn {
    /// The lowest severity that fails the run (`None`: never).
    pub fn level(self) -> Option<engine::analyze::health::Severity> {
        use engine::analyze::health::Severity;
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Never => None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FlowFormat {
    /// Aligned text for a terminal.
    Table,
    /// One JSON object per line (Zeek conn.log field names).
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(16)
}

/// Parses sizes like 100M, 1G, 1500K, 12345.
fn parse_size(s: &str) -> Result<u64, String> {
    // SI like capinfos, tshark and tcpdump -C (and every size v6watch prints): K, M, G (or
    // kB, MB, GB) are powers of 1000; KiB, MiB, GiB (or Ki, Mi, Gi) powers of 1024.
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = (s[..split].trim(), &s[split..]);
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit in {s:?} (K, M, G = 1000s; KiB, MiB, GiB = 1024s)")),
    };
    let n: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    if n.is_nan() || n <= 0.0 {
        return Err(format!("size must be positive: {s:?}"));
    }
    Ok((n * mult as f64) as u64)
}

/// Parses the command line; on error prints clap's message and returns exit code 2
/// (help and version print and return 0).
/// The command line's definition: the derived one, with `report`'s captures also optional
/// when `--fleet` is given (the shared input arguments cannot name an option only `report` has).
pub fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("report", |c| c.mut_arg("captures", |a| a.required_unless_present_any(["records", "fleet"])))
}

pub fn parse() -> Result<Command, ExitCode> {
    let parsed = command().try_get_matches().and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    match parsed {
        Ok(c) => {
            crate::output::term::set_wide(c.wide);
            Ok(c.command)
        }
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            Err(ExitCode::from(code))
        }
    }
}

/// `--family`: 4, 6, ipv4 or ipv6 (any case).
fn parse_family(s: &str) -> Result<u8, String> {
    match s.to_ascii_lowercase().as_str() {
        "4" | "ipv4" | "v4" => Ok(4),
        "6" | "ipv6" | "v6" => Ok(6),
        _ => Err("expected 4, 6, ipv4 or ipv6".into()),
    }
}

/// A count of at least 1.
fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("1.5M").unwrap(), 1_500_000);
        assert_eq!(parse_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_size("64Mi").unwrap(), 64 << 20);
        assert_eq!(parse_size("300 MB").unwrap(), 300_000_000);
        assert_eq!(parse_size("77").unwrap(), 77);
        assert!(parse_size("-1").is_err());
        assert!(parse_size("3X").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        command().debug_assert();
    }
}

/// The event commands, one per event type the extractors emit (`engine::extract::EVENT_TYPES`):
/// `v6watch dns`, `http`, `tls`, each with the same options. A protocol added to the registry
/// gets its command here without a change to this file.
#[derive(Debug)]
pub struct EventCommand {
    /// Which events.
    pub kind: engine::model::EventKind,
    /// The options.
    pub args: EventArgs,
}

/// Options of an event command.
#[derive(Debug, Args)]
pub struct EventArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// TOML configuration: its sensors (files and addresses) are used, as by the analyses.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FlowFormat::Table)]
    pub format: FlowFormat,
    /// Time zone of the table's times (IANA name, e.g. Asia/Tokyo). Default: UTC, or the
    /// config's `tz`. JSON Lines and CSV keep epoch seconds.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

impl clap::FromArgMatches for EventCommand {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = m.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let Some(i) = engine::extract::EVENT_TYPES.iter().position(|t| t.name == name) else {
            return Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand));
        };
        Ok(EventCommand { kind: engine::model::EventKind::ALL[i], args: EventArgs::from_arg_matches(sub)? })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Subcommand for EventCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        engine::extract::EVENT_TYPES
            .iter()
            .fold(cmd, |cmd, t| cmd.subcommand(EventArgs::augment_args(clap::Command::new(t.name)).about(t.about)))
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        engine::extract::EVENT_TYPES.iter().any(|t| t.name == name)
    }
}
