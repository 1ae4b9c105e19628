//! `landlock-webhook`: serve, inject, review, suggest, denials.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod commands;
mod endpoint;

use commands::{Common, Lookup};
use webhook::admission::config::Config;
use webhook::registry::RegistryOptions;
use webhook::serve::ServeOptions;

/// Wraps opted-in pods' containers in landlock-shim.
#[derive(Parser)]
#[command(name = "landlock-webhook", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve AdmissionReview v1 over HTTPS at /mutate (plus /healthz, /readyz, /metrics).
    Serve(ServeArgs),
    /// Print Pods and workloads from FILE (or stdin) as the webhook would admit them.
    Inject {
        /// The manifest (YAML or JSON, multi-document); `-` or absent: stdin.
        #[arg(short = 'f', long = "filename")]
        file: Option<PathBuf>,
        #[command(flatten)]
        lookup: Lookup,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Read an AdmissionReview on stdin, write the response on stdout (the /mutate code path).
    Review {
        #[command(flatten)]
        lookup: Lookup,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Report Landlock denials on this node: a JSON line each on stdout, /metrics, pod Events.
    Denials(DenialsArgs),
    /// Read shim output (learn lines; `kubectl logs --all-containers --prefix`) and denial lines
    /// (`landlock-webhook denials`) from FILEs or stdin and print the policy that lets the
    /// workload run sandboxed.
    Suggest {
        /// yaml: the metadata.annotations to paste; kubectl: the `kubectl annotate` command;
        /// flags: the shim flags, `NAME: FLAGS...` per container; json: all of it, with each
        /// path's coverage (in how many replicas it was needed); policy: a LandlockPolicy
        /// object with the same rules.
        #[arg(long, value_enum, default_value_t = webhook::suggest::Format::Yaml)]
        format: webhook::suggest::Format,
        /// Keep only what at least K replicas of a container needed (a replica is one pod, or
        /// one run outside a pod); what is left out is reported on stderr (and in --format json).
        #[arg(long, value_name = "K", value_parser = parse_min_coverage)]
        min_coverage: Option<usize>,
        /// Files of shim output or denial lines; stdin when none.
        files: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct DenialsArgs {
    /// Map nothing through the API server and post no Events (a plain host).
    #[arg(long)]
    no_kube: bool,
    /// Switch kernel auditing on when it is off, and raise an audit backlog limit below 8192 to
    /// 8192 (needs CAP_AUDIT_CONTROL).
    #[arg(long)]
    enable_audit: bool,
    /// Address of /metrics, /healthz and /readyz (plain HTTP).
    #[arg(long, default_value = "0.0.0.0:9464")]
    listen: SocketAddr,
    /// This node's name: its pods are watched.
    #[arg(long, env = "NODE_NAME")]
    node: Option<String>,
    /// The host's /proc (run with the host's PID namespace).
    #[arg(long, default_value = "/proc")]
    proc_root: PathBuf,
    /// Kubeconfig to reach the API server with, when the agent runs on the host beside a
    /// cluster's node containers (kind); else in-cluster config, KUBECONFIG or ~/.kube/config.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

#[derive(Args)]
struct CommonArgs {
    #[command(flatten)]
    config: Config,
    #[command(flatten)]
    registry: RegistryOptions,
    /// YAML/JSON file with Namespace objects whose opt-in label and default mode/profile
    /// annotations count besides (or, outside a cluster, instead of) the cluster's, and
    /// LandlockPolicy objects that bind to pods as the cluster's do; repeatable.
    #[arg(long = "namespaces")]
    namespaces: Vec<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    options: ServeOptions,
    #[command(flatten)]
    common: CommonArgs,
}

impl CommonArgs {
    fn into_common(self) -> Common {
        Common {
            config: self.config,
            registry: self.registry,
            namespaces: self.namespaces,
        }
    }
}

fn init_logging(format: LogFormat, writer: tracing_subscriber::fmt::writer::BoxMakeWriter) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: `kubectl logs` and log collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// `--min-coverage K`: a whole number of replicas (0 and K > replicas are refused by suggest,
/// which knows the input).
fn parse_min_coverage(value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a number of replicas (a whole number, at least 1)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The node agent logs through a thread of its own (dropping past a queue), so a stderr
    // nobody reads cannot stop it reading the audit socket; the guard flushes at exit.
    let mut log_drops = None;
    let _log_guard = if matches!(cli.command, Command::Denials(_)) {
        let (writer, guard) = webhook::denials::output::unblocked(std::io::stderr(), "agent-log");
        log_drops = Some(writer.error_counter());
        init_logging(
            cli.log_format,
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer),
        );
        Some(guard)
    } else {
        init_logging(
            cli.log_format,
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
        );
        None
    };
    let result = match cli.command {
        Command::Serve(args) => commands::serve(args.common.into_common(), args.options),
        Command::Inject {
            file,
            lookup,
            common,
        } => commands::inject(&common.into_common(), &lookup, file.as_ref()),
        Command::Review { lookup, common } => commands::review(&common.into_common(), &lookup),
        Command::Suggest {
            format,
            min_coverage,
            files,
        } => webhook::suggest::run_with(
            &files,
            webhook::suggest::Options {
                format,
                min_coverage,
            },
        )
        .map(|suggestion| {
            for warning in &suggestion.warnings {
                eprintln!("landlock-webhook: suggest: warning: {warning}");
            }
            for note in &suggestion.notes {
                eprintln!("landlock-webhook: suggest: {note}");
            }
            print!("{}", suggestion.output);
        })
        .map_err(|err| format!("suggest: {err}")),
        Command::Denials(args) => webhook::denials::run(webhook::denials::Options {
            no_kube: args.no_kube,
            enable_audit: args.enable_audit,
            listen: args.listen,
            node: args.node,
            proc_root: args.proc_root,
            kubeconfig: args.kubeconfig,
            log_drops,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("landlock-webhook: {message}");
            ExitCode::FAILURE
        }
    }
}
