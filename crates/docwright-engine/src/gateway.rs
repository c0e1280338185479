//! The AI gateway (SPEC A2, A3, A5, B5): every AI call of every feature goes through
//! [`Engine::ai_call`] or [`Engine::ai_stream`].
//!
//! For each call the gateway picks candidates — the named model and its `fallbacks`, or for
//! `auto` every model that can do the operation, ordered by priority and the user's model
//! profile — keeps only models whose provider the caller may use (`resource.aicore.<provider>`,
//! and the request's `allowed_providers`) and whose context fits the input, then tries them in
//! order: a retryable failure moves on to the next candidate. Every attempt, failed or not,
//! appends a stat record with its exact price (integer micro-units, rounded up per call).
//!
//! A model is retried (backoff with jitter, or a short `Retry-After`) before the next candidate,
//! and a per-model circuit breaker rests a model that keeps failing.
//!
//! Rate limits (SPEC A9, per replica): a provider's own quotas (`requests_per_minute`,
//! `tokens_per_minute` counting input and maximum output) are taken before each call — a call waits briefly for a slot or goes to the next candidate — and
//! `[limits]` caps requests per tenant, user and API key (429 with `Retry-After`).
//!
//! Inputs larger than a model's budget go through [`Engine::ai_call_chunked`] ([`crate::chunking`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use docwright_config::{Capability, Config, ProviderKind};
use docwright_core::id::UserId;
use docwright_core::money::{Money, PricePerMtok};
use docwright_core::rbac::{AccessLevel, Action, Permission};
use docwright_core::role::Role;
use docwright_core::settings::ModelProfile;
use docwright_core::time::Timestamp;
use docwright_llm::anthropic::Anthropic;
use docwright_llm::gemini::Gemini;
use docwright_llm::openai::{JsonMode, OpenAiCompatible};
use docwright_llm::tls::{ClientIdentity, KeyPassword, Tls};
use docwright_llm::{
    AnyProvider, ApiKey, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, Message, OutputFormat,
    Provider as _,
};
use docwright_storage::provider_keys::KeyOwner;
use docwright_storage::stats::AiStat;

use crate::access::Grant;
use crate::identity::Credential;
use crate::{Engine, Error, Result};

/// A model the gateway can route to.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub provider: String,
    pub upstream_name: String,
    pub context_tokens: u32,
    pub max_output_tokens: u32,
    pub capabilities: Vec<Capability>,
    pub price_input: PricePerMtok,
    pub price_output: PricePerMtok,
    pub quality: u8,
    pub speed: u8,
    pub fallbacks: Vec<String>,
}

impl Model {
    /// The price of a call with this usage.
    pub fn price(&self, input_tokens: u64, output_tokens: u64) -> Money {
        let total =
            self.price_input.cost(input_tokens).micros().saturating_add(self.price_output.cost(output_tokens).micros());
        Money::from_micros(total)
    }

    fn can(&self, op: Operation) -> bool {
        let need = match op {
            Operation::DataGenerate | Operation::DataExtract | Operation::DataAnalyse | Operation::Planning => {
                Capability::Text
            }
            Operation::ImageGenerate => Capability::ImageGenerate,
            Operation::WebSearch | Operation::WebCrawl => Capability::WebSearch,
            Operation::Embedding => Capability::Embedding,
        };
        self.capabilities.contains(&need)
    }
}

/// What a call is for (SPEC A2 operation types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    DataGenerate,
    DataExtract,
    DataAnalyse,
    Planning,
    ImageGenerate,
    WebSearch,
    WebCrawl,
    Embedding,
}

/// How `auto` orders candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    Quality,
    #[default]
    Balanced,
    Cost,
    Speed,
}

/// The models and providers of this installation, with the gateway's retry settings and the
/// breaker state.
#[derive(Debug)]
pub struct Registry {
    models: Vec<Model>,
    providers: HashMap<String, (AnyProvider, Option<ApiKey>)>,
    settings: GatewaySettings,
    breaker: Breaker,
    /// Each provider's own request quota (`requests_per_minute`).
    provider_limits: HashMap<String, governor::DefaultDirectRateLimiter>,
    /// Each provider's own token quota (`tokens_per_minute`), charged input plus maximum output.
    provider_token_limits: HashMap<String, (u32, governor::DefaultDirectRateLimiter)>,
    /// Requests per minute per tenant, user, API key (`[limits]`).
    caller_limits: Vec<(Scope, governor::DefaultKeyedRateLimiter<String>)>,
}

/// Whose request quota a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    User,
    ApiKey,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::User => "user",
            Scope::ApiKey => "API key",
        }
    }
}

fn per_minute(n: u32) -> Option<governor::Quota> {
    std::num::NonZeroU32::new(n).map(governor::Quota::per_minute)
}

/// How long until a limiter has room again.
fn wait_of(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> Duration {
    use governor::clock::Clock as _;
    not_until.wait_time_from(governor::clock::DefaultClock::default().now())
}

fn caller_limits(c: &docwright_config::LimitsConfig) -> Vec<(Scope, governor::DefaultKeyedRateLimiter<String>)> {
    [
        (Scope::Tenant, c.ai_requests_per_minute_per_tenant),
        (Scope::User, c.ai_requests_per_minute_per_user),
        (Scope::ApiKey, c.ai_requests_per_minute_per_api_key),
    ]
    .into_iter()
    .filter_map(|(scope, n)| per_minute(n).map(|q| (scope, governor::RateLimiter::keyed(q))))
    .collect()
}

/// The model name that asks the gateway to choose.
pub const AUTO: &str = "auto";

impl Registry {
    /// From configuration; with no providers configured, the built-in dryrun registry.
    pub fn from_config(config: &Config) -> Result<Self> {
        let settings = GatewaySettings::from(&config.gateway);
        if config.providers.is_empty() {
            return Ok(Self { settings, caller_limits: caller_limits(&config.limits), ..Self::builtin() });
        }
        let provider_limits = config
            .providers
            .iter()
            .filter_map(|p| Some((p.name.clone(), governor::RateLimiter::direct(per_minute(p.requests_per_minute?)?))))
            .collect();
        let provider_token_limits = config
            .providers
            .iter()
            .filter_map(|p| {
                let n = p.tokens_per_minute?;
                Some((p.name.clone(), (n, governor::RateLimiter::direct(per_minute(n)?))))
            })
            .collect();
        let mut providers = HashMap::new();
        for p in &config.providers {
            let timeout = Duration::from_secs(p.timeout_secs);
            // The provider's own endpoint unless the configuration names another.
            let base = |default: &'static str| p.base_url.as_deref().unwrap_or(default);
            let built = |e: docwright_llm::Error| Error::Internal(e.to_string());
            let client_identity = match (&p.client_cert_file, &p.client_key_file) {
                (Some(cert), Some(key)) => Some(ClientIdentity {
                    cert_file: cert.clone(),
                    key_file: key.clone(),
                    key_password: p.client_key_password.as_ref().map(|s| KeyPassword::new(s.expose())),
                }),
                _ => None,
            };
            let tls = Tls { ca_bundle_file: p.ca_bundle_file.clone(), client_identity };
            let provider = match p.kind {
                ProviderKind::OpenaiCompatible => {
                    let json_mode = match p.response_format.unwrap_or_default() {
                        docwright_config::ResponseFormat::JsonSchema => JsonMode::Schema,
                        docwright_config::ResponseFormat::JsonObject => JsonMode::Object,
                        docwright_config::ResponseFormat::None => JsonMode::Instruction,
                    };
                    let client = OpenAiCompatible::with_tls(&p.name, base(""), timeout, &tls).map_err(built)?;
                    AnyProvider::OpenAi(client.with_json_mode(json_mode))
                }
                ProviderKind::Anthropic => AnyProvider::Anthropic(
                    Anthropic::with_tls(&p.name, base("https://api.anthropic.com"), timeout, &tls).map_err(built)?,
                ),
                ProviderKind::Gemini => AnyProvider::Gemini(
                    Gemini::with_tls(&p.name, base("https://generativelanguage.googleapis.com"), timeout, &tls)
                        .map_err(built)?,
                ),
                ProviderKind::Dryrun => AnyProvider::DryRun(docwright_llm::dryrun::DryRun::new(&p.name)),
                ProviderKind::Gigachat => {
                    use docwright_llm::gigachat::{self, GigaChat, Mode};
                    let mode = match p.mode.unwrap_or_default() {
                        docwright_config::GigachatMode::Mtls => Mode::Mtls,
                        docwright_config::GigachatMode::Cloud => Mode::Cloud {
                            auth_url: p.auth_url.clone().unwrap_or_else(|| gigachat::DEFAULT_AUTH_URL.to_owned()),
                            scope: p.scope.clone().unwrap_or_else(|| gigachat::DEFAULT_SCOPE.to_owned()),
                        },
                    };
                    let base_url = base(gigachat::DEFAULT_BASE_URL);
                    AnyProvider::GigaChat(GigaChat::new(&p.name, base_url, timeout, mode, &tls).map_err(built)?)
                }
            };
            providers.insert(p.name.clone(), (provider, p.api_key.as_ref().map(|k| ApiKey::new(k.expose()))));
        }
        let mut models = Vec::new();
        for m in &config.models {
            let price = |s: &str, field: &str| {
                Money::parse(s).and_then(PricePerMtok::new).map_err(|e| Error::invalid(format!("models.{field}"), e))
            };
            models.push(Model {
                name: m.name.clone(),
                provider: m.provider.clone(),
                upstream_name: m.upstream_name.clone().unwrap_or_else(|| m.name.clone()),
                context_tokens: m.context_tokens,
                max_output_tokens: m.max_output_tokens,
                capabilities: m.capabilities.clone(),
                price_input: price(&m.price_input_per_mtok, "price_input_per_mtok")?,
                price_output: price(&m.price_output_per_mtok, "price_output_per_mtok")?,
                quality: m.quality,
                speed: m.speed,
                fallbacks: m.fallbacks.clone(),
            });
        }
        Ok(Self {
            models,
            providers,
            settings,
            breaker: Breaker::default(),
            provider_limits,
            provider_token_limits,
            caller_limits: caller_limits(&config.limits),
        })
    }

    /// `dryrun` with two chat models and an embedding model (hashed vectors,
    /// `docwright_llm::embed::hashed`): prices are nominal, so billing can be exercised offline.
    pub fn builtin() -> Self {
        let provider = AnyProvider::DryRun(docwright_llm::dryrun::DryRun::new("dryrun"));
        let model = |name: &str, quality, speed, input: i64, output: i64| Model {
            name: name.to_owned(),
            provider: "dryrun".to_owned(),
            upstream_name: name.to_owned(),
            context_tokens: 128_000,
            max_output_tokens: 8_192,
            capabilities: vec![Capability::Text, Capability::Json, Capability::Vision],
            price_input: PricePerMtok::new(Money::from_micros(input)).unwrap_or_default(),
            price_output: PricePerMtok::new(Money::from_micros(output)).unwrap_or_default(),
            quality,
            speed,
            fallbacks: Vec::new(),
        };
        Self {
            models: vec![
                model("dryrun-simple", 4, 9, 100_000, 400_000),
                model("dryrun-complex", 9, 4, 2_500_000, 10_000_000),
                Model {
                    context_tokens: 8_192,
                    max_output_tokens: 0,
                    capabilities: vec![Capability::Embedding],
                    ..model("dryrun-embedding", 5, 9, 20_000, 0)
                },
            ],
            providers: HashMap::from([("dryrun".to_owned(), (provider, None))]),
            settings: GatewaySettings::from(&docwright_config::GatewayConfig::default()),
            breaker: Breaker::default(),
            provider_limits: HashMap::new(),
            provider_token_limits: HashMap::new(),
            caller_limits: Vec::new(),
        }
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn has_provider(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }

    pub fn provider_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// A call through the gateway.
#[derive(Debug, Clone)]
pub struct AiRequest {
    /// A registry model name, or [`AUTO`].
    pub model: String,
    pub operation: Operation,
    pub priority: Option<Priority>,
    pub messages: Vec<Message>,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub output: OutputFormat,
    /// Functions the model may call (the front door's `tools`); none for docwright's own calls.
    pub tools: Vec<docwright_llm::Tool>,
    pub tool_choice: docwright_llm::ToolChoice,
    pub parallel_tool_calls: Option<bool>,
    /// Narrows the providers further than the caller's permissions (workflows, requests).
    pub allowed_providers: Option<Vec<String>>,
    /// What asked, for the stat record, e.g. `api.chat.completions`.
    pub process: String,
    /// What the call was made for beyond `process`: its stats and ledger row name it.
    pub reference: Option<CallFor>,
}

/// The record a call was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFor {
    /// An asynchronous AI request (`POST /api/ai/process`).
    AiRequest(docwright_core::id::AiRequestId),
    /// A generation workflow (`POST /api/workflows`, `docwright generate`).
    Workflow(docwright_core::id::WorkflowId),
    /// A turn of a chat (`POST /chats/{id}/messages`).
    Chat(docwright_core::id::ChatId),
    /// The embeddings of an uploaded file's passages (background indexing).
    File(docwright_core::id::FileId),
    /// A workflow run by an automation definition (SPEC T4): the stat names both, the ledger
    /// the definition.
    Automation { workflow: docwright_core::id::WorkflowId, automation: docwright_core::id::AutomationId },
}

/// An embedding call (SPEC A2 operation `embedding`): texts in, one vector each.
#[derive(Debug, Clone)]
pub struct EmbedCall {
    /// A registry model with the `embedding` capability, or [`AUTO`].
    pub model: String,
    pub inputs: Vec<String>,
    pub allowed_providers: Option<Vec<String>>,
    /// What asked, for the stat record, e.g. `api.embeddings`.
    pub process: String,
    pub reference: Option<CallFor>,
}

/// The vectors of an [`EmbedCall`], in its inputs' order, with what they cost.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub model: String,
    pub provider: String,
    pub price: Money,
    pub input_tokens: u64,
    pub processing_time_ms: u64,
    pub attempts: Vec<Attempt>,
}

impl AiRequest {
    /// The output tokens a call on `model` asks for (and the context must leave room for).
    pub fn output_budget(&self, model: &Model) -> u32 {
        self.max_output_tokens.unwrap_or(model.max_output_tokens.min(4096)).min(model.max_output_tokens)
    }
}

/// One try of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub model: String,
    pub provider: String,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A completed call (SPEC A5).
#[derive(Debug, Clone)]
pub struct AiResponse {
    pub content: String,
    pub model: String,
    pub provider: String,
    pub price: Money,
    pub processing_time_ms: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub finish_reason: Option<String>,
    /// The tools the model called (with `tools` in the request).
    pub tool_calls: Vec<docwright_llm::ToolCall>,
    pub error_count: u32,
    pub attempts: Vec<Attempt>,
    /// How many chunks the input was split into (1: it fit; SPEC A4).
    pub chunks: u32,
}

/// Whether a call wants the whole answer (booked now, or left to the caller) or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Call,
    Unsettled,
    Stream,
    /// Embeddings of the request's texts (one user message each).
    Embed,
}

/// What a successful attempt produced.
enum Outcome {
    /// The answer and its price; in `Mode::Unsettled` with the booking left to the caller.
    Called(ChatResponse, Money, Option<Box<crate::billing::Unsettled>>),
    Streaming(ChatStream, crate::billing::Held),
    /// Embeddings and their (booked) price.
    Embedded(EmbedResponse, Money),
}

/// Retry and breaker settings (`[gateway]`).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub retries_per_model: u32,
    pub backoff_base: Duration,
    pub max_retry_after: Duration,
    pub breaker_failures: u32,
    pub breaker_rest: Duration,
    pub chunk_parallelism: usize,
    pub chunk_overlap_tokens: u64,
}

impl From<&docwright_config::GatewayConfig> for GatewaySettings {
    fn from(c: &docwright_config::GatewayConfig) -> Self {
        Self {
            retries_per_model: c.retries_per_model,
            backoff_base: Duration::from_millis(c.backoff_base_ms),
            max_retry_after: Duration::from_secs(c.max_retry_after_secs),
            breaker_failures: c.breaker_failures,
            breaker_rest: Duration::from_secs(c.breaker_rest_secs),
            chunk_parallelism: c.chunk_parallelism.max(1) as usize,
            chunk_overlap_tokens: u64::from(c.chunk_overlap_tokens),
        }
    }
}

impl GatewaySettings {
    /// How long to wait before retrying the same model after `e` on try `tries` (0-based), or
    /// `None` to move on to the next candidate.
    fn retry_delay(&self, e: &docwright_llm::Error, tries: u32) -> Option<Duration> {
        if tries >= self.retries_per_model || !e.is_retryable() {
            return None;
        }
        if let Some(wait) = e.retry_after() {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let base = self.backoff_base.saturating_mul(2u32.saturating_pow(tries));
        let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
        Some(base + jitter)
    }
}

/// Per-model circuit breaker (in this replica's memory): after `breaker_failures` consecutive
/// failures a model rests for `breaker_rest`, and candidates skip it meanwhile.
#[derive(Debug, Default)]
pub struct Breaker {
    models: std::sync::Mutex<HashMap<String, (u32, Option<Instant>)>>,
}

impl Breaker {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (u32, Option<Instant>)>) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update; the counts stay usable.
        let mut guard = self.models.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Consecutive failures, and until when the model rests (if it does).
    pub fn status(&self, model: &str) -> (u32, Option<Instant>) {
        self.with(|m| m.get(model).copied().unwrap_or((0, None)))
    }

    pub fn resting(&self, model: &str) -> bool {
        self.with(|m| m.get(model).and_then(|(_, until)| *until).is_some_and(|until| Instant::now() < until))
    }

    fn success(&self, model: &str) {
        self.with(|m| m.remove(model));
    }

    fn failure(&self, model: &str, settings: &GatewaySettings) {
        self.with(|m| {
            let entry = m.entry(model.to_owned()).or_insert((0, None));
            entry.0 += 1;
            if entry.0 >= settings.breaker_failures {
                entry.0 = 0;
                entry.1 = Some(Instant::now() + settings.breaker_rest);
                tracing::warn!(model, rest_secs = settings.breaker_rest.as_secs(), "model failing: resting it");
            }
        });
    }
}

/// The failed attempts of one call so far.
#[derive(Debug, Default)]
struct Failures {
    attempts: Vec<Attempt>,
    retry_after: Option<Duration>,
    /// A candidate the balance could not cover: (balance, available, required, currency).
    insufficient: Option<(Money, Money, Money, String)>,
}

impl Failures {
    /// Notes a failed (or skipped, `duration_ms` 0) attempt of `model`.
    fn note(&mut self, model: &Model, error: String, duration_ms: u64) {
        self.attempts.push(Attempt {
            model: model.name.clone(),
            provider: model.provider.clone(),
            error: Some(error),
            duration_ms,
        });
    }
}

/// Why a call failed, with every attempt.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("unknown model `{0}`")]
    UnknownModel(String),
    #[error("{0}")]
    NoCandidate(String),
    #[error("the {} has used its AI requests for this minute", scope.as_str())]
    RateLimited { scope: Scope, retry_after: Duration },
    #[error("every candidate failed: {}", attempts.iter().map(|a| format!("{} ({}): {}", a.model, a.provider, a.error.as_deref().unwrap_or("?"))).collect::<Vec<_>>().join("; "))]
    AllFailed { attempts: Vec<Attempt>, retry_after: Option<Duration> },
    /// The paying account cannot cover the call's maximum cost (SPEC B3).
    #[error("insufficient balance: {available} {currency} available, up to {required} {currency} required")]
    InsufficientBalance { balance: Money, available: Money, required: Money, currency: String },
    #[error(transparent)]
    Engine(#[from] Box<Error>),
}

impl From<Error> for GatewayError {
    fn from(e: Error) -> Self {
        GatewayError::Engine(Box::new(e))
    }
}

/// The permission to use a provider (SPEC B5), checked per candidate.
fn provider_item(provider: &str) -> String {
    format!("resource.aicore.{provider}")
}

impl Engine {
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Models the caller may use (their provider is permitted), for `/v1/models`.
    pub async fn usable_models(&self, grant: &Grant) -> Result<Vec<Model>> {
        let allowed = self.allowed_providers(grant).await?;
        Ok(self.registry.models.iter().filter(|m| allowed.contains(&m.provider)).cloned().collect())
    }

    async fn allowed_providers(&self, grant: &Grant) -> Result<Vec<String>> {
        let ctx = grant.ctx();
        let policy = self.policy(ctx.tenant).await?;
        Ok(self
            .registry
            .providers
            .keys()
            .filter(|p| {
                ctx.role == Role::Sysadmin
                    || policy.grant_item(ctx.role, &provider_item(p), Action::View) >= AccessLevel::Tenant
            })
            .cloned()
            .collect())
    }

    /// The candidates for `req`, in the order they will be tried.
    async fn candidates(&self, grant: &Grant, req: &AiRequest) -> Result<Vec<Model>, GatewayError> {
        let mut ordered = self.ranked(grant, req).await?;
        if req.operation == Operation::Embedding {
            // Each text is embedded on its own: the longest must fit the model's context.
            let longest = req.messages.iter().map(|m| estimate_input(std::slice::from_ref(m))).max().unwrap_or(0);
            ordered.retain(|m| m.can(Operation::Embedding) && longest <= u64::from(m.context_tokens));
            if ordered.is_empty() {
                return Err(GatewayError::NoCandidate(format!(
                    "no embedding model can take this request (model `{}`, the longest text about {longest} tokens)",
                    req.model
                )));
            }
            return Ok(ordered);
        }
        let input_tokens = estimate_input(&req.messages) + estimate_tools(&req.tools);
        let needs_json = matches!(req.output, OutputFormat::Json { .. });
        ordered.retain(|m| {
            input_tokens + u64::from(req.output_budget(m)) <= u64::from(m.context_tokens)
                && (!needs_json || m.capabilities.contains(&Capability::Json))
        });
        if ordered.is_empty() {
            return Err(GatewayError::NoCandidate(format!(
                "no model can take this request (about {input_tokens} input tokens{})",
                if needs_json { ", JSON output" } else { "" }
            )));
        }
        Ok(ordered)
    }

    /// The models `req` may use, in the order they would be tried, whatever the input's size.
    pub(crate) async fn ranked(&self, grant: &Grant, req: &AiRequest) -> Result<Vec<Model>, GatewayError> {
        let mut allowed = self.allowed_providers(grant).await?;
        if let Some(only) = &req.allowed_providers {
            allowed.retain(|p| only.contains(p));
        }
        let mut ordered: Vec<&Model> = if req.model == AUTO {
            let profile = Some(self.model_profile(grant.ctx().user()).await?);
            let mut all: Vec<&Model> = self.registry.models.iter().filter(|m| m.can(req.operation)).collect();
            let priority = req.priority.unwrap_or(match profile {
                Some(ModelProfile::Complex) => Priority::Quality,
                _ => Priority::Balanced,
            });
            all.sort_by_key(|m| match priority {
                Priority::Quality => (std::cmp::Reverse(m.quality), m.price_output.per_million().micros()),
                Priority::Speed => (std::cmp::Reverse(m.speed), m.price_output.per_million().micros()),
                Priority::Cost => (std::cmp::Reverse(0), m.price_output.per_million().micros()),
                Priority::Balanced => (std::cmp::Reverse(m.quality + m.speed), m.price_output.per_million().micros()),
            });
            all
        } else {
            let named = self.registry.model(&req.model).ok_or_else(|| GatewayError::UnknownModel(req.model.clone()))?;
            let mut chain = vec![named];
            chain.extend(named.fallbacks.iter().filter_map(|f| self.registry.model(f)));
            chain
        };
        let considered = ordered.len();
        ordered.retain(|m| allowed.contains(&m.provider));
        if ordered.is_empty() && considered > 0 {
            return Err(GatewayError::Engine(Box::new(Error::Forbidden(format!(
                "you may not use the provider of `{}` (resource.aicore.<provider>, allowed_providers)",
                req.model
            )))));
        }
        Ok(ordered.into_iter().cloned().collect())
    }

    fn chat_request(&self, model: &Model, req: &AiRequest) -> ChatRequest {
        ChatRequest {
            model: model.upstream_name.clone(),
            messages: req.messages.clone(),
            max_output_tokens: Some(
                req.max_output_tokens.unwrap_or(model.max_output_tokens).min(model.max_output_tokens),
            ),
            temperature: req.temperature,
            output: req.output.clone(),
            tools: req.tools.clone(),
            tool_choice: req.tool_choice.clone(),
            parallel_tool_calls: req.parallel_tool_calls,
        }
    }

    /// A complete answer, with retries and fallback along the candidates.
    pub async fn ai_call(&self, grant: &Grant, req: &AiRequest) -> Result<AiResponse, GatewayError> {
        let started = Instant::now();
        let (model, outcome, attempts) = self.run_candidates(grant, req, Mode::Call).await?;
        Ok(self.response(model, outcome, attempts, started)?.0)
    }

    /// As [`Engine::ai_call`], but the call's price is not booked: the caller books it with
    /// [`Engine::settle_in`] in the transaction that stores what it made of the answer, so the
    /// charge and its use commit together (an asynchronous request's answer, its job's end).
    pub async fn ai_call_unsettled(
        &self,
        grant: &Grant,
        req: &AiRequest,
    ) -> Result<(AiResponse, crate::billing::Unsettled), GatewayError> {
        let started = Instant::now();
        let (model, outcome, attempts) = self.run_candidates(grant, req, Mode::Unsettled).await?;
        match self.response(model, outcome, attempts, started)? {
            (r, Some(u)) => Ok((r, *u)),
            (_, None) => Err(Error::Internal("an unsettled call came back settled".to_owned()).into()),
        }
    }

    fn response(
        &self,
        model: Model,
        outcome: Outcome,
        attempts: Vec<Attempt>,
        started: Instant,
    ) -> Result<(AiResponse, Option<Box<crate::billing::Unsettled>>), GatewayError> {
        let Outcome::Called(r, price, unsettled) = outcome else {
            return Err(Error::Internal("a call produced a stream".to_owned()).into());
        };
        let response = AiResponse {
            content: r.content,
            model: model.name.clone(),
            provider: model.provider.clone(),
            price,
            processing_time_ms: started.elapsed().as_millis() as u64,
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
            input_tokens: r.usage.input_tokens,
            output_tokens: r.usage.output_tokens,
            finish_reason: r.finish_reason,
            tool_calls: r.tool_calls,
            error_count: attempts.iter().filter(|a| a.error.is_some()).count() as u32,
            attempts,
            chunks: 1,
        };
        Ok((response, unsettled))
    }

    /// Embeddings of `call.inputs`, with the same candidates, permissions, quotas, retries,
    /// fallback, reservation and exact booking as any call (SPEC A2 `embedding`).
    pub async fn ai_embed(&self, grant: &Grant, call: &EmbedCall) -> Result<Embedded, GatewayError> {
        let started = Instant::now();
        let req = AiRequest {
            model: call.model.clone(),
            operation: Operation::Embedding,
            priority: None,
            messages: call.inputs.iter().map(|t| Message::text(docwright_llm::Role::User, t.clone())).collect(),
            max_output_tokens: Some(0),
            temperature: None,
            output: OutputFormat::Text,
            tools: Vec::new(),
            tool_choice: Default::default(),
            parallel_tool_calls: None,
            allowed_providers: call.allowed_providers.clone(),
            process: call.process.clone(),
            reference: call.reference,
        };
        match self.run_candidates(grant, &req, Mode::Embed).await? {
            (model, Outcome::Embedded(r, price), attempts) => Ok(Embedded {
                vectors: r.vectors,
                model: model.name,
                provider: model.provider,
                price,
                input_tokens: r.usage.input_tokens,
                processing_time_ms: started.elapsed().as_millis() as u64,
                attempts,
            }),
            _ => Err(Error::Internal("an embedding call produced an answer".to_owned()).into()),
        }
    }

    /// A streamed answer. Retries and fallback happen only until the stream opens; once text
    /// flows, a failure ends the stream. Call [`Engine::ai_stream_finished`] with the outcome.
    pub async fn ai_stream(
        &self,
        grant: &Grant,
        req: &AiRequest,
    ) -> Result<(Model, ChatStream, crate::billing::Held), GatewayError> {
        match self.run_candidates(grant, req, Mode::Stream).await? {
            (model, Outcome::Streaming(s, held), _) => Ok((model, s, held)),
            _ => Err(Error::Internal("a stream produced a call".to_owned()).into()),
        }
    }

    /// Tries the candidates in order: each with up to `retries_per_model` retries (backoff with
    /// jitter, or a short `Retry-After`), skipping models whose breaker rests them (unless all
    /// rest), moving on after retryable failures and missing keys, stopping at any other.
    async fn run_candidates(
        &self,
        grant: &Grant,
        req: &AiRequest,
        mode: Mode,
    ) -> Result<(Model, Outcome, Vec<Attempt>), GatewayError> {
        let candidates = self.candidates(grant, req).await?;
        self.check_caller_limits(grant)?;
        self.run_these(grant, req, mode, candidates).await
    }

    /// One request against the tenant's, the user's and the API key's quotas.
    fn check_caller_limits(&self, grant: &Grant) -> Result<(), GatewayError> {
        let ctx = grant.ctx();
        for (scope, limiter) in &self.registry.caller_limits {
            let key = match (scope, &ctx.principal.credential) {
                (Scope::Tenant, _) => ctx.tenant.to_string(),
                (Scope::User, _) => ctx.user().to_string(),
                (Scope::ApiKey, Credential::ApiKey { id, .. }) => id.to_string(),
                (Scope::ApiKey, Credential::Session { .. }) => continue,
            };
            if let Err(not_until) = limiter.check_key(&key) {
                return Err(GatewayError::RateLimited { scope: *scope, retry_after: wait_of(&not_until) });
            }
        }
        Ok(())
    }

    /// A call on exactly these candidates (after the same permission check).
    async fn ai_call_models(
        &self,
        grant: &Grant,
        req: &AiRequest,
        models: Vec<Model>,
    ) -> Result<AiResponse, GatewayError> {
        let allowed = self.allowed_providers(grant).await?;
        if models.iter().any(|m| !allowed.contains(&m.provider)) {
            return Err(
                Error::Forbidden("you may not use this provider (resource.aicore.<provider>)".to_owned()).into()
            );
        }
        let started = Instant::now();
        let (model, outcome, attempts) = self.run_these(grant, req, Mode::Call, models).await?;
        Ok(self.response(model, outcome, attempts, started)?.0)
    }

    async fn run_these(
        &self,
        grant: &Grant,
        req: &AiRequest,
        mode: Mode,
        candidates: Vec<Model>,
    ) -> Result<(Model, Outcome, Vec<Attempt>), GatewayError> {
        let breaker = &self.registry.breaker;
        let all_resting = candidates.iter().all(|m| breaker.resting(&m.name));
        let mut failures = Failures::default();
        // The first model a request went to, to tell a fallback's answer.
        let mut first_tried: Option<String> = None;
        for model in candidates {
            if !all_resting && breaker.resting(&model.name) {
                continue;
            }
            let Some((provider, configured)) = self.registry.providers.get(&model.provider) else { continue };
            let key = self.key_for(grant, &model.provider, configured.as_ref()).await?;
            let chat = self.chat_request(&model, req);
            // Reserve this model's maximum cost (a fallback reserves again for its own).
            let held = match self.hold(grant, req, &model, chat.max_output_tokens.unwrap_or(0)).await {
                Ok(h) => h,
                Err(GatewayError::InsufficientBalance { balance, available, required, currency }) => {
                    failures.note(&model, format!("the balance cannot cover up to {required} {currency}"), 0);
                    failures.insufficient = Some((balance, available, required, currency));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut held = Some(held);
            let mut tries = 0;
            loop {
                let tokens = estimate_input(&chat.messages)
                    + estimate_tools(&chat.tools)
                    + u64::from(chat.max_output_tokens.unwrap_or(0));
                if !self.provider_slot(&model, tokens, &mut failures).await {
                    break;
                }
                let t = Instant::now();
                first_tried.get_or_insert_with(|| model.name.clone());
                let result = match mode {
                    Mode::Call | Mode::Unsettled => {
                        provider.chat(&chat, key.as_ref()).await.map(|r| Outcome::Called(r, Money::ZERO, None))
                    }
                    Mode::Stream => match provider.chat_stream(&chat, key.as_ref()).await {
                        Ok(s) => match held.take() {
                            Some(h) => {
                                self.noted_fallback(first_tried.as_deref(), &model);
                                Ok(Outcome::Streaming(self.timed_first_token(s, &model, t), h))
                            }
                            None => return Err(Error::Internal("a hold was used twice".to_owned()).into()),
                        },
                        Err(e) => Err(e),
                    },
                    Mode::Embed => {
                        let embed =
                            EmbedRequest { model: model.upstream_name.clone(), inputs: texts_of(&req.messages) };
                        provider.embed(&embed, key.as_ref()).await.map(|r| Outcome::Embedded(r, Money::ZERO))
                    }
                };
                let duration_ms = t.elapsed().as_millis() as u64;
                match result {
                    Ok(outcome) => {
                        breaker.success(&model.name);
                        let outcome = match outcome {
                            Outcome::Called(r, _, _) => {
                                let price = model.price(r.usage.input_tokens, r.usage.output_tokens);
                                let stat = self.record(grant, req, &model, Some(&r), price, duration_ms, None).await?;
                                self.noted_fallback(first_tried.as_deref(), &model);
                                let mut unsettled = None;
                                if let Some(h) = held.take() {
                                    if mode == Mode::Unsettled {
                                        unsettled = Some(Box::new(Self::unsettled(h, grant, req, &model, price, stat)));
                                    } else {
                                        self.settle_hold(h, grant, req, &model, price, stat).await?;
                                    }
                                }
                                Outcome::Called(r, price, unsettled)
                            }
                            Outcome::Embedded(r, _) => {
                                let price = model.price(r.usage.input_tokens, 0);
                                let as_call = ChatResponse {
                                    content: String::new(),
                                    model: r.model.clone(),
                                    usage: r.usage,
                                    finish_reason: None,
                                    bytes_sent: r.bytes_sent,
                                    bytes_received: r.bytes_received,
                                    tool_calls: Vec::new(),
                                };
                                let stat =
                                    self.record(grant, req, &model, Some(&as_call), price, duration_ms, None).await?;
                                self.noted_fallback(first_tried.as_deref(), &model);
                                if let Some(h) = held.take() {
                                    self.settle_hold(h, grant, req, &model, price, stat).await?;
                                }
                                Outcome::Embedded(r, price)
                            }
                            streaming => streaming,
                        };
                        let mut attempts = failures.attempts;
                        attempts.push(Attempt {
                            model: model.name.clone(),
                            provider: model.provider.clone(),
                            error: None,
                            duration_ms,
                        });
                        return Ok((model, outcome, attempts));
                    }
                    Err(e) => {
                        if e.is_retryable() {
                            breaker.failure(&model.name, &self.registry.settings);
                        }
                        if !self.failed(grant, req, &model, &e, duration_ms, &mut failures).await? {
                            if let Some(h) = held.take() {
                                self.release_hold(h).await?;
                            }
                            return Err(GatewayError::AllFailed {
                                attempts: failures.attempts,
                                retry_after: failures.retry_after,
                            });
                        }
                        match self.registry.settings.retry_delay(&e, tries) {
                            Some(delay) => {
                                tokio::time::sleep(delay).await;
                                tries += 1;
                            }
                            None => break,
                        }
                    }
                }
            }
            if let Some(h) = held.take() {
                self.release_hold(h).await?;
            }
        }
        if let Some((balance, available, required, currency)) = failures.insufficient {
            return Err(GatewayError::InsufficientBalance { balance, available, required, currency });
        }
        Err(GatewayError::AllFailed { attempts: failures.attempts, retry_after: failures.retry_after })
    }

    /// `stream`, reporting when its first text or tool call arrives (time to first token).
    fn timed_first_token(&self, stream: ChatStream, model: &Model, asked: Instant) -> ChatStream {
        use futures_util::StreamExt as _;
        let observer = self.observer.clone();
        let (provider, name) = (model.provider.clone(), model.name.clone());
        let mut waiting = true;
        Box::pin(stream.inspect(move |ev| {
            if waiting
                && matches!(ev, Ok(docwright_llm::StreamEvent::Delta(_) | docwright_llm::StreamEvent::ToolCall(_)))
            {
                waiting = false;
                observer.ai_first_token(&provider, &name, asked.elapsed());
            }
        }))
    }

    /// The key a call uses: the user's own (BYOK), else the tenant's, else the configured one.
    async fn key_for(&self, grant: &Grant, provider: &str, configured: Option<&ApiKey>) -> Result<Option<ApiKey>> {
        let ctx = grant.ctx();
        let cache_key = (ctx.user(), ctx.tenant, provider.to_owned());
        let stored = match self.cache.get(&self.cache.keys, &cache_key) {
            Ok(stored) => stored,
            Err(ticket) => {
                let mut stored = None;
                for owner in [KeyOwner::User(ctx.user()), KeyOwner::Tenant(ctx.tenant)] {
                    if let Some(sealed) = self.db.provider_key(owner, provider).await? {
                        stored = Some(ApiKey::new(self.sealer.open(&sealed)?));
                        break;
                    }
                }
                self.cache.put(&self.cache.keys, ticket, cache_key, stored.clone());
                stored
            }
        };
        Ok(stored.or_else(|| configured.cloned()))
    }

    /// The user's model profile (settings), which orders `auto` candidates.
    async fn model_profile(&self, user: UserId) -> Result<ModelProfile> {
        let ticket = match self.cache.get(&self.cache.profiles, &user) {
            Ok(profile) => return Ok(profile),
            Err(ticket) => ticket,
        };
        let profile = self.db.user(user).await?.map(|u| u.settings.model_profile).unwrap_or_default();
        self.cache.put(&self.cache.profiles, ticket, user, profile);
        Ok(profile)
    }

    /// Takes a request slot and `tokens` of the provider's own quotas, waiting up to
    /// `max_retry_after` for them; when they do not come that soon (or the call is larger than
    /// the token quota itself), notes the attempt (nothing is sent, so nothing is recorded as a
    /// call) and answers false so that the next candidate is tried.
    async fn provider_slot(&self, model: &Model, tokens: u64, failures: &mut Failures) -> bool {
        let max_wait = self.registry.settings.max_retry_after;
        let mut refuse = |why: String, wait: Option<Duration>| {
            failures.retry_after = failures.retry_after.or(wait);
            failures.note(model, why, 0);
            false
        };
        if let Some(limiter) = self.registry.provider_limits.get(&model.provider)
            && let Err(not_until) = limiter.check()
        {
            let wait = wait_of(&not_until);
            if wait > max_wait {
                let why =
                    format!("provider {} is at its own request limit for {}s", model.provider, wait.as_secs().max(1));
                return refuse(why, Some(wait));
            }
            limiter.until_ready().await;
        }
        if let Some((quota, limiter)) = self.registry.provider_token_limits.get(&model.provider) {
            let n = u32::try_from(tokens).ok().and_then(std::num::NonZeroU32::new);
            let Some(n) = n.filter(|n| n.get() <= *quota) else {
                let why = format!(
                    "a call of about {tokens} tokens (input and maximum output) is more than provider {}'s \
                     tokens_per_minute ({quota})",
                    model.provider
                );
                return refuse(why, None);
            };
            if let Ok(Err(not_until)) = limiter.check_n(n) {
                let wait = wait_of(&not_until);
                if wait > max_wait {
                    let why =
                        format!("provider {} is at its own token limit for {}s", model.provider, wait.as_secs().max(1));
                    return refuse(why, Some(wait));
                }
                // Capacity was checked above, so this only waits.
                let _ = limiter.until_n_ready(n).await;
            }
        }
        true
    }

    /// Records a failed attempt; answers whether to go on: after a retryable error, or a missing
    /// key (this provider cannot serve; another may).
    async fn failed(
        &self,
        grant: &Grant,
        req: &AiRequest,
        model: &Model,
        e: &docwright_llm::Error,
        duration_ms: u64,
        failures: &mut Failures,
    ) -> Result<bool> {
        let message = e.to_string();
        self.record(grant, req, model, None, Money::ZERO, duration_ms, Some((e.kind(), &message))).await?;
        failures.retry_after = failures.retry_after.or(e.retry_after());
        failures.note(model, message, duration_ms);
        Ok(e.is_retryable() || matches!(e, docwright_llm::Error::NoKey { .. }))
    }

    /// Records the end of a stream opened by [`Engine::ai_stream`] and settles its hold at
    /// the actual price (a stream that failed costs nothing); returns the price.
    pub async fn ai_stream_finished(
        &self,
        grant: &Grant,
        req: &AiRequest,
        model: &Model,
        held: crate::billing::Held,
        outcome: std::result::Result<&ChatResponse, &str>,
        duration_ms: u64,
    ) -> Result<Money> {
        match outcome {
            Ok(r) => {
                let price = model.price(r.usage.input_tokens, r.usage.output_tokens);
                let stat = self.record(grant, req, model, Some(r), price, duration_ms, None).await?;
                self.settle_hold(held, grant, req, model, price, stat).await?;
                Ok(price)
            }
            Err(e) => {
                self.record(grant, req, model, None, Money::ZERO, duration_ms, Some(("stream_failed", e))).await?;
                self.release_hold(held).await?;
                Ok(Money::ZERO)
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // One stat row has this many facts; a struct would only rename them.
    async fn record(
        &self,
        grant: &Grant,
        req: &AiRequest,
        model: &Model,
        r: Option<&ChatResponse>,
        price: Money,
        duration_ms: u64,
        error: Option<(&str, &str)>,
    ) -> Result<uuid::Uuid> {
        let ctx = grant.ctx();
        let api_key_id = match &ctx.principal.credential {
            Credential::ApiKey { id, .. } => Some(*id),
            Credential::Session { .. } => None,
        };
        let stat = AiStat {
            id: uuid::Uuid::now_v7(),
            tenant_id: ctx.tenant,
            user_id: UserId::from(ctx.user().as_uuid()),
            api_key_id,
            process: req.process.clone(),
            engine: format!("ai.{}.{}", model.provider, model.name),
            provider: model.provider.clone(),
            model: model.name.clone(),
            price,
            processing_time_ms: duration_ms as i64,
            bytes_sent: r.map_or(0, |r| r.bytes_sent as i64),
            bytes_received: r.map_or(0, |r| r.bytes_received as i64),
            input_tokens: r.map_or(0, |r| r.usage.input_tokens as i64),
            output_tokens: r.map_or(0, |r| r.usage.output_tokens as i64),
            error_count: i64::from(error.is_some()),
            error: error.map(|(_, message)| message.to_owned()),
            error_kind: error.map(|(kind, _)| kind.to_owned()),
            request_id: match req.reference {
                Some(CallFor::AiRequest(id)) => Some(id),
                _ => None,
            },
            workflow_id: match req.reference {
                Some(CallFor::Workflow(id) | CallFor::Automation { workflow: id, .. }) => Some(id),
                _ => None,
            },
            automation_id: match req.reference {
                Some(CallFor::Automation { automation, .. }) => Some(automation),
                _ => None,
            },
            chat_id: match req.reference {
                Some(CallFor::Chat(id)) => Some(id),
                _ => None,
            },
            created_at: Timestamp::now(),
        };
        self.observer.ai_attempt(&crate::observe::Attempt {
            provider: &stat.provider,
            model: &stat.model,
            outcome: error.map_or("ok", |(kind, _)| kind),
            duration: Duration::from_millis(duration_ms),
            input_tokens: stat.input_tokens.max(0) as u64,
            output_tokens: stat.output_tokens.max(0) as u64,
            cost_micros: price.micros(),
        });
        let id = stat.id;
        self.append_stat(stat).await?;
        Ok(id)
    }

    /// Reports an answer by another model than the first one tried.
    fn noted_fallback(&self, first: Option<&str>, answered: &Model) {
        if let Some(first) = first.filter(|f| *f != answered.name) {
            self.observer.ai_fallback(first, &answered.name);
        }
    }
}

/// The texts of an embedding request's messages, one per message.
fn texts_of(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| {
            m.parts
                .iter()
                .filter_map(|p| match p {
                    docwright_llm::Part::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

pub(crate) fn estimate_input(messages: &[Message]) -> u64 {
    messages
        .iter()
        .flat_map(|m| &m.parts)
        .map(|p| match p {
            docwright_llm::Part::Text(t) | docwright_llm::Part::ToolResult { content: t, .. } => {
                docwright_llm::estimate_tokens(t)
            }
            docwright_llm::Part::ToolCall(c) => {
                docwright_llm::estimate_tokens(&c.name) + docwright_llm::estimate_tokens(&c.arguments)
            }
            docwright_llm::Part::Image { .. } => 765,
        })
        .sum()
}

/// Tokens the tool declarations add to the input (providers count them as prompt tokens).
pub(crate) fn estimate_tools(tools: &[docwright_llm::Tool]) -> u64 {
    tools
        .iter()
        .map(|t| {
            docwright_llm::estimate_tokens(t.name())
                + t.description().map_or(0, docwright_llm::estimate_tokens)
                + docwright_llm::estimate_tokens(&t.parameters().to_string())
        })
        .sum()
}

/// A provider as administrators see it (never its key).
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub name: String,
    pub kind: &'static str,
    pub key_configured: bool,
    pub models: Vec<ModelHealth>,
}

/// A model's breaker state.
#[derive(Debug, Clone)]
pub struct ModelHealth {
    pub model: String,
    pub consecutive_failures: u32,
    /// Seconds the model still rests, when it does.
    pub resting_secs: Option<u64>,
}

/// The permissions of the AI administration.
pub const AI_PROVIDER_READ: Permission = Permission::new(docwright_core::rbac::items::AI_PROVIDER, Action::Read);
pub const AI_PROVIDER_UPDATE: Permission = Permission::new(docwright_core::rbac::items::AI_PROVIDER, Action::Update);

impl Engine {
    /// Every model of the registry (administration).
    pub fn admin_models(&self, grant: &Grant) -> Result<Vec<Model>> {
        grant.expect(AI_PROVIDER_READ)?;
        Ok(self.registry.models.clone())
    }

    /// Every provider with its models' health (administration).
    pub fn admin_providers(&self, grant: &Grant) -> Result<Vec<ProviderInfo>> {
        grant.expect(AI_PROVIDER_READ)?;
        Ok(self.provider_health())
    }

    /// Every provider with its models' breaker state, for health and metrics (no keys: only
    /// whether one is configured).
    pub fn provider_health(&self) -> Vec<ProviderInfo> {
        let now = Instant::now();
        let mut out: Vec<ProviderInfo> = self
            .registry
            .providers
            .iter()
            .map(|(name, (provider, key))| ProviderInfo {
                name: name.clone(),
                kind: provider.kind(),
                key_configured: key.is_some(),
                models: self
                    .registry
                    .models
                    .iter()
                    .filter(|m| &m.provider == name)
                    .map(|m| {
                        let (failures, until) = self.registry.breaker.status(&m.name);
                        ModelHealth {
                            model: m.name.clone(),
                            consecutive_failures: failures,
                            resting_secs: until.filter(|u| *u > now).map(|u| (u - now).as_secs().max(1)),
                        }
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// A tenant's AI usage from `from` to `to` (SPEC P7 `GET /api/metrics`): the caller's
    /// tenant, or with `tenant` any tenant for a sysadmin (another tenant is not found for
    /// others, so ids do not leak).
    pub async fn tenant_metrics(
        &self,
        grant: &Grant,
        tenant: Option<docwright_core::id::TenantId>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(docwright_core::id::TenantId, docwright_storage::stats::TenantMetrics)> {
        grant.expect(AI_PROVIDER_READ)?;
        let ctx = grant.ctx();
        let tenant = match tenant {
            Some(t) if t != ctx.tenant => {
                if ctx.role != Role::Sysadmin || self.db.tenant(t).await?.is_none() {
                    return Err(Error::NotFound("tenant"));
                }
                t
            }
            _ => ctx.tenant,
        };
        if to.millis() <= from.millis() {
            return Err(Error::invalid("to", "must be after from"));
        }
        // Attempts still in the stat writer's buffer count too.
        self.flush_stats().await;
        Ok((tenant, self.db.tenant_metrics(tenant, from, to).await?))
    }

    /// Providers the context tenant has stored a key for, with when it was set.
    pub async fn tenant_keys(&self, grant: &Grant) -> Result<Vec<(String, docwright_core::time::Timestamp)>> {
        grant.expect(AI_PROVIDER_READ)?;
        Ok(self.db.provider_key_list(KeyOwner::Tenant(grant.ctx().tenant)).await?)
    }

    /// Stores (sealed) the context tenant's key for `provider`.
    pub async fn put_tenant_key(&self, grant: &Grant, provider: &str, key: &str) -> Result<()> {
        grant.expect(AI_PROVIDER_UPDATE)?;
        self.store_key(KeyOwner::Tenant(grant.ctx().tenant), provider, key).await?;
        self.cache.invalidate();
        Ok(())
    }

    pub async fn delete_tenant_key(&self, grant: &Grant, provider: &str) -> Result<()> {
        grant.expect(AI_PROVIDER_UPDATE)?;
        if !self.db.delete_provider_key(KeyOwner::Tenant(grant.ctx().tenant), provider).await? {
            return Err(Error::NotFound("key"));
        }
        self.cache.invalidate();
        Ok(())
    }

    /// Seals and stores a key, after checking it.
    pub(crate) async fn store_key(&self, owner: KeyOwner, provider: &str, key: &str) -> Result<()> {
        let key = self.check_key(provider, key)?;
        Ok(self.db.put_provider_key(owner, provider, &self.sealer.seal(key)?).await?)
    }

    /// The key to store for `provider`, trimmed, when the provider exists and the key is plausible.
    pub(crate) fn check_key<'k>(&self, provider: &str, key: &'k str) -> Result<&'k str> {
        if !self.registry.has_provider(provider) {
            return Err(Error::invalid(
                format!("provider_keys.{provider}"),
                format!("no provider named `{provider}` is configured"),
            ));
        }
        let key = key.trim();
        if key.is_empty() || key.chars().count() > 4096 || key.chars().any(char::is_control) {
            return Err(Error::invalid(format!("provider_keys.{provider}"), "a key is 1 to 4096 printable characters"));
        }
        Ok(key)
    }

    /// Tests a provider and its key with a tiny call to its first model, recorded like any call.
    pub async fn test_provider(&self, grant: &Grant, name: &str) -> Result<Result<AiResponse, GatewayError>> {
        grant.expect(AI_PROVIDER_UPDATE)?;
        let Some(model) = self.registry.models.iter().find(|m| m.provider == name) else {
            return Err(if self.registry.providers.contains_key(name) {
                Error::Conflict(format!("provider `{name}` has no model to test with"))
            } else {
                Error::NotFound("provider")
            });
        };
        let req = AiRequest {
            model: model.name.clone(),
            operation: Operation::DataGenerate,
            priority: None,
            messages: vec![Message::text(docwright_llm::Role::User, "Reply with the single word OK.")],
            max_output_tokens: Some(5),
            temperature: Some(0.0),
            output: OutputFormat::Text,
            tools: Vec::new(),
            tool_choice: Default::default(),
            parallel_tool_calls: None,
            allowed_providers: Some(vec![name.to_owned()]),
            process: "admin.provider_test".to_owned(),
            reference: None,
        };
        // Only this model: its fallbacks would test other providers.
        let single = Model { fallbacks: Vec::new(), ..model.clone() };
        Ok(self.ai_call_models(grant, &req, vec![single]).await)
    }
}

/// The permission of the front door route: using the AI at all.
pub const AI_USE: Permission = Permission::new("resource.action.ai.process", Action::View);
