/* Starling's C API: the SMTP sessions, the STARTTLS pump and the TLS policy
 * engine for relays written in C (docs/embedding.md).
 *
 * C99. It wraps the C++ core and adds no behaviour of its own: every call
 * below is one call of smtp::ServerSession / smtp::ClientSession /
 * starttls::ServerConnection / starttls::ClientConnection / core/policy.
 *
 * Shape (sans-I/O, as everywhere in Starling): bytes from the peer go in with
 * *_receive(); events come out of *_next_event(); decisions go back in as
 * calls; the bytes to send are *_pending_output(), then *_consume_output();
 * timers are pulled with *_next_deadline() and *_on_timeout(). Nothing here
 * touches a socket, a clock or (unless asked for, see starling_rng) a random
 * source: time comes in as an argument, Unix time in nanoseconds.
 *
 * Errors: fallible calls return a starling_status (the numeric values are
 * Abseil's / gRPC's canonical codes). starling_last_error() has the message
 * of the last failed call on this thread. STARLING_FAILED_PRECONDITION: the
 * call is wrong in the session's state, nothing changed. STARLING_ABORTED:
 * the peer broke the protocol; sticky, every later call returns it while the
 * pending output (a final 421/554) still drains. STARLING_INVALID_ARGUMENT:
 * a bad argument, reported before the session is asked. No exception and no
 * C++ type ever crosses this header.
 *
 * Ownership: handles (starling_server, starling_client, starling_policy_table,
 * starling_policy_decision) are created by *_new / *_parse / *_judge and
 * owned by the caller, who frees each with its *_free (NULL is fine). Every
 * pointer this API returns (events, byte views, results, strings) is owned
 * by the handle it came from and stays valid until the next call that
 * changes that handle (or its *_free); copy what you keep. Every pointer the
 * caller passes in is read during the call only and may be freed after it,
 * except starling_client_options.policy (the table must outlive the client).
 * Strings are NUL-terminated UTF-8; starling_bytes views are NUL-terminated
 * too, but body data may hold NUL octets: use `size`.
 *
 * Threading: a handle is used by one thread at a time (no internal locks);
 * different handles may be used on different threads at once. A parsed
 * starling_policy_table is immutable and may be shared by any number of
 * threads, clients and starling_policy_judge() calls at once.
 *
 * ABI: option and input structs start with `struct_size`; initialise them
 * with their *_init() function (a header-inline memset + size), after which
 * every field's zero value means "Starling's default". New fields are only
 * ever appended, and the library reads only the fields that fit in the
 * caller's struct_size, so a program built against an older header keeps
 * working with a newer library of the same STARLING_ABI_VERSION. Structs the
 * library returns (events, results) are only ever extended at the end.
 * Enumerator values never change. STARLING_ABI_VERSION changes when anything
 * else would break; compare it with starling_abi_version() at start-up. */
#ifndef STARLING_CORE_CAPI_STARLING_H_
#define STARLING_CORE_CAPI_STARLING_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STARLING_VERSION_MAJOR 0
#define STARLING_VERSION_MINOR 1
#define STARLING_VERSION_PATCH 0
#define STARLING_VERSION "0.1.0"
#define STARLING_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version, status, time -------------------------------------------- */

/* STARLING_VERSION and STARLING_ABI_VERSION of the library linked in. */
const char* starling_version(void);
int starling_abi_version(void);

typedef enum starling_status {
  STARLING_OK = 0,
  STARLING_CANCELLED = 1,
  STARLING_UNKNOWN = 2,
  STARLING_INVALID_ARGUMENT = 3,
  STARLING_DEADLINE_EXCEEDED = 4,
  STARLING_NOT_FOUND = 5,
  STARLING_ALREADY_EXISTS = 6,
  STARLING_PERMISSION_DENIED = 7,
  STARLING_RESOURCE_EXHAUSTED = 8,
  STARLING_FAILED_PRECONDITION = 9,
  STARLING_ABORTED = 10,
  STARLING_OUT_OF_RANGE = 11,
  STARLING_UNIMPLEMENTED = 12,
  STARLING_INTERNAL = 13,
  STARLING_UNAVAILABLE = 14,
  STARLING_DATA_LOSS = 15,
  STARLING_UNAUTHENTICATED = 16
} starling_status;

/* "OK", "INVALID_ARGUMENT", ... (static storage). */
const char* starling_status_name(starling_status status);

/* The message of the last call on this thread that did not return
 * STARLING_OK ("" when none): valid until the next Starling call on this
 * thread. */
const char* starling_last_error(void);

/* Unix time in nanoseconds. STARLING_TIME_NEVER: no deadline. */
typedef int64_t starling_time;
#define STARLING_TIME_NEVER INT64_MAX

/* A view of bytes (see "Ownership" above). */
typedef struct starling_bytes {
  const char* data;
  size_t size;
} starling_bytes;

/* ---- TLS facts ---------------------------------------------------------- */

typedef enum starling_tls_version {
  STARLING_TLS_UNKNOWN = 0,
  STARLING_TLS_1_0 = 1,
  STARLING_TLS_1_1 = 2,
  STARLING_TLS_1_2 = 3,
  STARLING_TLS_1_3 = 4
} starling_tls_version;

/* The outcome of certificate path validation. */
typedef enum starling_chain_verdict {
  STARLING_CHAIN_NOT_CHECKED = 0,
  STARLING_CHAIN_TRUSTED = 1,
  STARLING_CHAIN_EXPIRED = 2,
  STARLING_CHAIN_NOT_YET_VALID = 3,
  STARLING_CHAIN_UNTRUSTED_ROOT = 4,
  STARLING_CHAIN_SELF_SIGNED = 5,
  STARLING_CHAIN_BAD_SIGNATURE = 6,
  STARLING_CHAIN_REVOKED = 7,
  STARLING_CHAIN_INCOMPLETE = 8,
  STARLING_CHAIN_WEAK_KEY_OR_HASH = 9,
  STARLING_CHAIN_OTHER_FAILURE = 10
} starling_chain_verdict;

/* A TLS session the embedder ran itself (with OpenSSL, GnuTLS, ...), for
 * starling_server_tls_established(), starling_client_tls_established() and
 * starling_policy_judge(). Certificates go in as DER; Starling describes
 * them (names, validity, keys, every digest DANE and pins compare). */
typedef struct starling_tls_facts {
  size_t struct_size;
  starling_tls_version version;
  const char* cipher_suite;        /* e.g. "ECDHE_RSA_WITH_AES_256_GCM_SHA384" */
  const char* key_exchange_group;  /* e.g. "x25519" */
  int forward_secret;
  const char* sni;                 /* sent (client) or received (server) */
  const starling_bytes* peer_chain_der; /* leaf first; NULL with count 0 */
  size_t peer_chain_count;
  starling_chain_verdict chain_verdict; /* your validator's verdict */
  const char* trust_anchor_dn;     /* when trusted: the anchor's DN */
  const char* chain_detail;        /* your validator's words otherwise */
} starling_tls_facts;

static inline void starling_tls_facts_init(starling_tls_facts* facts) {
  memset(facts, 0, sizeof *facts);
  facts->struct_size = sizeof *facts;
}

/* What a session's TLS is (library-owned; NULL while in plaintext). */
typedef struct starling_tls_info {
  starling_tls_version version;
  const char* version_name;        /* "TLSv1.2" */
  const char* cipher_suite;
  const char* key_exchange_group;
  int forward_secret;
  const char* sni;
  size_t peer_chain_count;
  const char* peer_subject_dn;     /* the leaf's, "" without a certificate */
  const char* peer_issuer_dn;
  starling_chain_verdict chain_verdict;
  const char* chain_detail;
} starling_tls_info;

/* Randomness for the TLS handshakes Starling runs (never used otherwise). */
typedef enum starling_rng {
  STARLING_RNG_SYSTEM = 0, /* the operating system's RNG: real use */
  STARLING_RNG_SEEDED = 1  /* deterministic from tls_rng_seed: tests only */
} starling_rng;

/* ---- the inbound server session --------------------------------------- */

/* One inbound SMTP connection (RFC 5321 server with the usual extensions).
 * Without tls_cert_file the embedder runs TLS itself: STARTTLS (when
 * offer_starttls) yields STARLING_SERVER_STARTTLS, the embedder writes the
 * pending 220, runs the handshake on its socket and reports it with
 * starling_server_tls_established() / _tls_failed(); bytes in and out stay
 * plaintext. With tls_cert_file Starling runs TLS (the STARTTLS pump,
 * Botan): bytes in and out are the wire's, TLS records included, and the
 * STARTTLS event is only for the record. */
typedef struct starling_server starling_server;

typedef struct starling_server_options {
  size_t struct_size;
  const char* hostname;          /* greeting and EHLO; NULL: "localhost" */
  const char* greeting_text;     /* NULL: "ESMTP Starling" */
  int offer_starttls;            /* embedder-run TLS: advertise STARTTLS */
  int require_tls;               /* MAIL before STARTTLS gets 530 5.7.0 */
  const char* auth_mechanisms;   /* "PLAIN LOGIN" (space-separated); NULL: no AUTH */
  int auth_in_plaintext;         /* offer AUTH before TLS too */
  uint64_t max_message_size;     /* octets; 0: 35 MiB; UINT64_MAX: unlimited */
  size_t max_recipients;         /* 0: 100 */
  int normalize_bare_line_endings; /* store bare CR/LF in DATA as CRLF
                                      instead of 554 and close */
  int discard_after_starttls;    /* drop plaintext behind STARTTLS instead
                                    of closing */
  /* Starling runs TLS when tls_cert_file is set. */
  const char* tls_cert_file;     /* PEM chain, leaf first */
  const char* tls_key_file;      /* any PEM key format; NULL: in tls_cert_file */
  const char* tls_key_passphrase;
  const char* tls_client_ca_path; /* ask for client certificates and
                                     validate them against this bundle or
                                     directory; NULL: do not ask */
  starling_rng tls_rng;
  uint64_t tls_rng_seed;
} starling_server_options;

static inline void starling_server_options_init(starling_server_options* o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

typedef enum starling_server_event_type {
  STARLING_SERVER_HELO = 1,             /* decision */
  STARLING_SERVER_MAIL_FROM = 2,        /* decision */
  STARLING_SERVER_RCPT_TO = 3,          /* decision */
  STARLING_SERVER_MESSAGE_DATA = 4,     /* body octets, no decision */
  STARLING_SERVER_MESSAGE_COMPLETE = 5, /* decision: accept or refuse it */
  STARLING_SERVER_MESSAGE_ABORTED = 6,  /* the body so far is void */
  STARLING_SERVER_AUTH = 7,             /* decision, or auth_challenge */
  STARLING_SERVER_STARTTLS = 8,         /* embedder-run TLS: handshake now */
  STARLING_SERVER_CLOSED = 9            /* drain the output, then close */
} starling_server_event_type;

typedef enum starling_body_type {
  STARLING_BODY_UNSPECIFIED = 0,
  STARLING_BODY_7BIT = 1,
  STARLING_BODY_8BITMIME = 2,
  STARLING_BODY_BINARYMIME = 3
} starling_body_type;

/* RFC 3461 NOTIFY, as bits. */
#define STARLING_NOTIFY_NEVER 1u
#define STARLING_NOTIFY_SUCCESS 2u
#define STARLING_NOTIFY_FAILURE 4u
#define STARLING_NOTIFY_DELAY 8u

typedef enum starling_dsn_ret {
  STARLING_RET_UNSPECIFIED = 0,
  STARLING_RET_FULL = 1,
  STARLING_RET_HEADERS = 2
} starling_dsn_ret;

/* Only the fields of `type` are set; the others are zero / empty. */
typedef struct starling_server_event {
  starling_server_event_type type;
  /* HELO */
  int ehlo;                      /* 1: EHLO, 0: HELO */
  starling_bytes domain;         /* the name the client gave */
  /* MAIL_FROM, RCPT_TO */
  starling_bytes mailbox;        /* "local@domain" as written; "" for <> */
  int null_path;                 /* MAIL FROM:<> */
  /* MAIL_FROM parameters */
  int has_size;
  uint64_t size;                 /* SIZE= */
  starling_body_type body;       /* BODY= */
  int smtputf8;
  int requiretls;
  starling_dsn_ret ret;
  starling_bytes envid;          /* ENVID= (xtext, as written) */
  starling_bytes auth;           /* AUTH= (xtext, as written) */
  /* RCPT_TO parameters */
  unsigned notify;               /* STARLING_NOTIFY_* bits; 0: not given */
  starling_bytes orcpt;          /* ORCPT= "type;xtext" as written */
  /* MESSAGE_DATA */
  starling_bytes data;           /* unstuffed body octets, CRLF lines */
  /* MESSAGE_COMPLETE */
  uint64_t message_size;
  int via_bdat;
  /* AUTH */
  starling_bytes auth_mechanism;
  starling_bytes auth_authorization_id; /* PLAIN/LOGIN, decoded */
  starling_bytes auth_username;
  starling_bytes auth_password;
  starling_bytes auth_response;  /* other mechanisms: this round's answer */
  /* CLOSED, MESSAGE_ABORTED */
  starling_bytes reason;
} starling_server_event;

starling_status starling_server_new(const starling_server_options* options,
                                    starling_server** out);
void starling_server_free(starling_server* server);

/* The connection decision: the 220 greeting, or a refusal (554: the client
 * may QUIT; 421: close at once). */
starling_status starling_server_accept_connection(starling_server* server,
                                                  starling_time now);
starling_status starling_server_refuse_connection(starling_server* server,
                                                  int code,
                                                  const char* enhanced,
                                                  const char* text,
                                                  starling_time now);

/* Bytes from the client. */
starling_status starling_server_receive(starling_server* server,
                                        const void* bytes, size_t size,
                                        starling_time now);

/* The next event, or NULL when there is none. */
const starling_server_event* starling_server_next_event(
    starling_server* server);

/* Answers the pending decision: the default reply, a 2xx of your own, or a
 * 4xx/5xx refusal (one line; `enhanced` "x.y.z" or NULL/""; `text` an RFC
 * 5321 textstring). A 421 refusal closes the session. */
starling_status starling_server_accept(starling_server* server,
                                       starling_time now);
starling_status starling_server_accept_with(starling_server* server, int code,
                                            const char* enhanced,
                                            const char* text,
                                            starling_time now);
starling_status starling_server_reject(starling_server* server, int code,
                                       const char* enhanced, const char* text,
                                       starling_time now);
/* A pending AUTH of a mechanism other than PLAIN/LOGIN: a 334 round with
 * these raw bytes (base64-encoded by Starling). */
starling_status starling_server_auth_challenge(starling_server* server,
                                               const void* challenge,
                                               size_t size, starling_time now);

/* Embedder-run TLS only: the handshake after STARLING_SERVER_STARTTLS
 * completed (the session restarts as after the greeting) or failed (the
 * session closes). */
starling_status starling_server_tls_established(
    starling_server* server, const starling_tls_facts* facts,
    starling_time now);
starling_status starling_server_tls_failed(starling_server* server,
                                           const char* reason,
                                           starling_time now);

/* While 0, STARTTLS is not advertised and is answered 454 (e.g. the
 * certificate could not be loaded). Default 1. */
void starling_server_set_tls_available(starling_server* server,
                                       int available);

/* The peer closed or reset the connection. */
void starling_server_connection_lost(starling_server* server,
                                     starling_time now);
/* Ends the session with 421 4.3.2 (shutting down). */
void starling_server_shutdown(starling_server* server, starling_time now);

/* Call starling_server_on_timeout() at this time (STARLING_TIME_NEVER: no
 * timer runs, e.g. while a decision is pending). */
starling_time starling_server_next_deadline(const starling_server* server);
starling_status starling_server_on_timeout(starling_server* server,
                                           starling_time now);

/* The bytes to write now, then how many were written. */
starling_bytes starling_server_pending_output(const starling_server* server);
void starling_server_consume_output(starling_server* server, size_t size);

/* 1 when the session has ended and everything it has to say is in the
 * pending output: write that, then close the socket. */
int starling_server_finished(const starling_server* server);

/* Facts for decisions. */
const char* starling_server_helo_name(const starling_server* server);
const char* starling_server_authenticated_user(const starling_server* server);
const starling_tls_info* starling_server_tls(starling_server* server);
/* Why the session ended fatally: "none", "pregreet", "improper-pipelining",
 * ... (SessionErrorName). */
const char* starling_server_fatal_reason(const starling_server* server);

/* ---- the TLS policy engine -------------------------------------------- */

/* A policy table (docs/policy.md has the text format). Immutable. */
typedef struct starling_policy_table starling_policy_table;

/* Fails with STARLING_INVALID_ARGUMENT and "line N: ..." on the first error. */
starling_status starling_policy_table_parse(const char* text, size_t size,
                                            starling_policy_table** out);
void starling_policy_table_free(starling_policy_table* table);

typedef enum starling_verdict {
  STARLING_VERDICT_PROCEED_TLS = 0,
  STARLING_VERDICT_PROCEED_PLAINTEXT = 1,
  STARLING_VERDICT_DEFER = 2,
  STARLING_VERDICT_BOUNCE = 3,
  STARLING_VERDICT_TRY_NEXT_MX = 4
} starling_verdict;

/* "proceed-tls", "proceed-plaintext", "defer", "bounce", "try-next-mx". */
const char* starling_verdict_name(starling_verdict verdict);

typedef enum starling_dnssec {
  STARLING_DNSSEC_INSECURE = 0,
  STARLING_DNSSEC_SECURE = 1,
  STARLING_DNSSEC_BOGUS = 2
} starling_dnssec;

/* Why a session has no TLS. */
typedef enum starling_tls_problem {
  STARLING_TLS_NOT_OFFERED = 0,
  STARLING_TLS_REFUSED = 1,
  STARLING_TLS_HANDSHAKE_FAILED = 2,
  STARLING_TLS_NOT_ATTEMPTED = 3
} starling_tls_problem;

/* What is known about one destination (also the client's policy inputs). */
typedef struct starling_destination {
  size_t struct_size;
  const char* next_hop_domain;   /* the policy domain, e.g. "example.com" */
  const char* mx_host;           /* the MX host connected to */
  uint32_t mx_preference;
  int more_mx;                   /* another MX host is left to try */
  /* DANE for mx_host: the validated _25._tcp TLSA RRset in presentation
   * form ("3 1 1 <hex>") and what DNSSEC said of it. */
  starling_dnssec dnssec;
  const char* const* tlsa;
  size_t tlsa_count;
  /* The MTA-STS policy in force (the policy file's text), NULL: none. */
  const char* sts_policy;
} starling_destination;

static inline void starling_destination_init(starling_destination* d) {
  memset(d, 0, sizeof *d);
  d->struct_size = sizeof *d;
}

/* One delivery attempt to judge: the session's TLS (NULL: none, for
 * `no_tls`) and, for the message decision, its flags. */
typedef struct starling_policy_query {
  size_t struct_size;
  const starling_destination* destination; /* required */
  const starling_tls_facts* tls;
  starling_tls_problem no_tls;
  int requiretls;                /* RFC 8689 REQUIRETLS on the envelope */
  int tls_required_no;           /* RFC 8689 "TLS-Required: No" */
  int server_requiretls;         /* the post-TLS EHLO offered REQUIRETLS */
  starling_time now;
} starling_policy_query;

static inline void starling_policy_query_init(starling_policy_query* q) {
  memset(q, 0, sizeof *q);
  q->struct_size = sizeof *q;
}

/* What the engine decided, and why (caller-owned: starling_policy_decision_free). */
typedef struct starling_policy_decision {
  starling_verdict mx_verdict;       /* may this MX be used at all */
  int starttls_attempt;              /* the STARTTLS intent */
  int starttls_mandatory;
  const char* sni;
  starling_verdict verdict;          /* the connection decision */
  const char* label;                 /* "dane:verified", "may:plaintext", ... */
  const char* tlsrpt_result_type;    /* RFC 8460, "" when nothing failed */
  starling_verdict message_verdict;  /* the message decision (flags applied) */
  const char* message_tlsrpt_result_type;
  const char* const* trace;          /* the connection decision's steps */
  size_t trace_count;
  const char* explanation;           /* everything above as text, one line
                                        per step (as tlspolicy explain) */
} starling_policy_decision;

/* Judges `query` against `table`: CheckMx, DecideStartTls,
 * EvaluateHandshake / EvaluateWithoutTls, DecideMessage. Fails on
 * unparseable TLSA records, MTA-STS policy text or certificates. */
starling_status starling_policy_judge(const starling_policy_table* table,
                                      const starling_policy_query* query,
                                      starling_policy_decision** out);
void starling_policy_decision_free(starling_policy_decision* decision);

/* ---- the outbound client session -------------------------------------- */

/* One outbound SMTP connection to one MX host delivering one or more
 * messages, consulting the policy engine (or opportunistic TLS) at its TLS
 * seams. Without starling_tls the embedder runs TLS itself
 * (STARLING_CLIENT_STARTTLS, then starling_client_tls_established() /
 * _tls_failed()); with it Starling does (the STARTTLS pump, Botan) and the
 * bytes are the wire's. */
typedef struct starling_client starling_client;

typedef struct starling_client_options {
  size_t struct_size;
  const char* helo_name;          /* NULL: "localhost" */
  const starling_destination* destination; /* required */
  int no_pipelining;
  int prefer_bdat;
  int no_starttls;                /* a deliberate attempt in plaintext */
  const char* auth_username;      /* AUTH PLAIN/LOGIN, only over TLS */
  const char* auth_password;
  int auth_in_plaintext;
  /* The policy table judging this connection (must outlive the client);
   * NULL: opportunistic TLS (Postfix "may"). */
  const starling_policy_table* policy;
  /* Starling runs TLS when set. */
  int starling_tls;
  const char* tls_ca_path;        /* CA bundle or directory; NULL: the chain
                                     is reported unchecked */
  const char* tls_cert_file;      /* client certificate, NULL: none */
  const char* tls_key_file;
  const char* tls_key_passphrase;
  starling_rng tls_rng;
  uint64_t tls_rng_seed;
} starling_client_options;

static inline void starling_client_options_init(starling_client_options* o) {
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
}

typedef struct starling_message {
  size_t struct_size;
  const char* sender;             /* "local@domain"; NULL or "": <> */
  const char* const* recipients;  /* "local@domain" each */
  size_t recipient_count;
  const void* body;               /* headers and body; copied */
  size_t body_size;
  starling_body_type body_type;   /* UNSPECIFIED: 7BIT (8-bit octets
                                     upgrade it to 8BITMIME) */
  int smtputf8;
  int requiretls;
  int tls_required_no;
} starling_message;

static inline void starling_message_init(starling_message* m) {
  memset(m, 0, sizeof *m);
  m->struct_size = sizeof *m;
}

typedef enum starling_client_event_type {
  STARLING_CLIENT_STARTTLS = 1,     /* embedder-run TLS: handshake now */
  STARLING_CLIENT_MESSAGE_DONE = 2, /* results of `message` are final */
  STARLING_CLIENT_CLOSED = 3        /* drain the output, then close */
} starling_client_event_type;

typedef struct starling_client_event {
  starling_client_event_type type;
  size_t message;                 /* MESSAGE_DONE */
  starling_bytes sni;             /* STARTTLS: the server name to send */
  starling_bytes reason;          /* CLOSED */
} starling_client_event;

typedef enum starling_recipient_status {
  STARLING_RECIPIENT_PENDING = 0,
  STARLING_RECIPIENT_DELIVERED = 1,
  STARLING_RECIPIENT_TEMP_FAILED = 2,
  STARLING_RECIPIENT_PERM_FAILED = 3
} starling_recipient_status;

typedef struct starling_recipient_result {
  starling_recipient_status status;
  const char* mailbox;
  const char* stage;              /* "RCPT", "end of data", "policy", ...
                                     (ClientStageName) */
  int reply_code;
  const char* reply_enhanced;     /* "5.1.1", or "" */
  const char* reply_text;         /* the reply's lines joined by "\n" */
  const char* detail;             /* why, in words */
} starling_recipient_result;

typedef struct starling_message_result {
  int done;                       /* every recipient's result is final */
  size_t recipient_count;
  int over_tls;
  starling_verdict policy_verdict; /* the decision this message went by */
  const char* policy_label;
  const char* tlsrpt_result_type;
} starling_message_result;

/* `messages`: an array of `count` pointers. Fails with
 * STARLING_INVALID_ARGUMENT when an envelope cannot be sent (CR, LF, '>',
 * over-long or malformed addresses) or TLS files do not load. */
starling_status starling_client_new(const starling_client_options* options,
                                    const starling_message* const* messages,
                                    size_t count, starling_time now,
                                    starling_client** out);
void starling_client_free(starling_client* client);

starling_status starling_client_receive(starling_client* client,
                                        const void* bytes, size_t size,
                                        starling_time now);
const starling_client_event* starling_client_next_event(
    starling_client* client);

starling_bytes starling_client_pending_output(const starling_client* client);
/* `size` octets were written at `now` (the body timer restarts). */
void starling_client_consume_output(starling_client* client, size_t size,
                                    starling_time now);

starling_time starling_client_next_deadline(const starling_client* client);
starling_status starling_client_on_timeout(starling_client* client,
                                           starling_time now);

/* Embedder-run TLS only, after STARLING_CLIENT_STARTTLS. */
starling_status starling_client_tls_established(
    starling_client* client, const starling_tls_facts* facts,
    starling_time now);
starling_status starling_client_tls_failed(starling_client* client,
                                           const char* reason,
                                           starling_time now);

/* The connection could not be made, or was closed or reset by the peer. */
void starling_client_connection_lost(starling_client* client,
                                     const char* reason, starling_time now);

int starling_client_finished(const starling_client* client);

/* Results; NULL for an index out of range. */
const starling_message_result* starling_client_message_result(
    starling_client* client, size_t message);
const starling_recipient_result* starling_client_recipient_result(
    starling_client* client, size_t message, size_t recipient);
const starling_tls_info* starling_client_tls(starling_client* client);
const char* starling_client_fatal_reason(const starling_client* client);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* STARLING_CORE_CAPI_STARLING_H_ */
