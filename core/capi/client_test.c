/* The client half of the C API, from C: a delivery against scripted
 * replies, embedder-run STARTTLS, a policy table that refuses plaintext,
 * timers, and both halves joined over TLS that Starling runs (the pump). */
#include <stdint.h>
#include <string.h>

#include "core/capi/capi_check.h"
#include "core/capi/starling.h"

static starling_time now = TEST_NOW;

static void replies(starling_client* c, const char* text) {
  CHECK_OK(starling_client_receive(c, text, strlen(text), now));
}

static void expect_output(starling_client* c, const char* text) {
  const starling_bytes out = starling_client_pending_output(c);
  if (!bytes_contain(out, text)) {
    fprintf(stderr, "output lacks \"%s\": %.*s\n", text, (int)out.size, out.data);
    exit(1);
  }
  starling_client_consume_output(c, out.size, now);
}

static const char* const kRecipients[] = {"bob@b.example", "carol@b.example"};
static const char kBody[] = "Subject: hi\r\n\r\n.dot\r\n";

static void init_message(starling_message* m) {
  starling_message_init(m);
  m->sender = "alice@a.example";
  m->recipients = kRecipients;
  m->recipient_count = 2;
  m->body = kBody;
  m->body_size = strlen(kBody);
}

static void init_destination(starling_destination* d) {
  starling_destination_init(d);
  d->next_hop_domain = "b.example";
  d->mx_host = "mx.b.example";
}

static starling_client* new_client(starling_client_options* options) {
  starling_message m;
  init_message(&m);
  const starling_message* messages[1] = {&m};
  starling_client* c = NULL;
  CHECK_OK(starling_client_new(options, messages, 1, now, &c));
  return c;
}

static void test_plaintext_delivery(void) {
  starling_destination d;
  init_destination(&d);
  starling_client_options options;
  starling_client_options_init(&options);
  options.destination = &d;
  options.helo_name = "relay.a.example";
  starling_client* c = new_client(&options);
  CHECK(starling_client_next_deadline(c) == now + SECONDS(300));
  replies(c, "220 mx.b.example ESMTP\r\n");
  expect_output(c, "EHLO relay.a.example\r\n");
  replies(c, "250-mx.b.example\r\n250 PIPELINING\r\n");
  expect_output(c, "RCPT TO:<carol@b.example>\r\nDATA\r\n");
  replies(c, "250 ok\r\n250 ok\r\n550 5.1.1 no carol\r\n354 go\r\n");
  expect_output(c, "..dot\r\n.\r\n");
  replies(c, "250 2.0.0 queued\r\n");
  expect_output(c, "QUIT\r\n");
  replies(c, "221 bye\r\n");
  const starling_client_event* e = starling_client_next_event(c);
  CHECK(e != NULL && e->type == STARLING_CLIENT_MESSAGE_DONE && e->message == 0);
  e = starling_client_next_event(c);
  CHECK(e != NULL && e->type == STARLING_CLIENT_CLOSED);
  CHECK(starling_client_next_event(c) == NULL);
  CHECK(starling_client_finished(c));

  const starling_message_result* m = starling_client_message_result(c, 0);
  CHECK(m != NULL && m->done == 1 && m->recipient_count == 2 && m->over_tls == 0);
  CHECK(m->policy_verdict == STARLING_VERDICT_PROCEED_PLAINTEXT);
  CHECK(strcmp(m->policy_label, "may:anonymous") == 0);
  const starling_recipient_result* bob = starling_client_recipient_result(c, 0, 0);
  const starling_recipient_result* carol = starling_client_recipient_result(c, 0, 1);
  CHECK(bob->status == STARLING_RECIPIENT_DELIVERED);
  CHECK(strcmp(bob->mailbox, "bob@b.example") == 0);
  CHECK(bob->reply_code == 250 && strcmp(bob->reply_enhanced, "2.0.0") == 0);
  CHECK(strcmp(bob->reply_text, "queued") == 0);
  CHECK(carol->status == STARLING_RECIPIENT_PERM_FAILED);
  CHECK(strcmp(carol->stage, "RCPT") == 0 && carol->reply_code == 550);
  CHECK(starling_client_message_result(c, 1) == NULL);
  CHECK(starling_client_recipient_result(c, 0, 2) == NULL);
  CHECK(starling_client_tls(c) == NULL);
  CHECK(strcmp(starling_client_fatal_reason(c), "none") == 0);
  starling_client_free(c);
  starling_client_free(NULL);
}

static void test_embedder_starttls(void) {
  starling_destination d;
  init_destination(&d);
  starling_client_options options;
  starling_client_options_init(&options);
  options.destination = &d;
  starling_client* c = new_client(&options);
  starling_tls_facts facts;
  starling_tls_facts_init(&facts);
  CHECK_STATUS(starling_client_tls_established(c, &facts, now),
               STARLING_FAILED_PRECONDITION);
  replies(c, "220 mx.b.example ESMTP\r\n");
  expect_output(c, "EHLO localhost\r\n");
  replies(c, "250-mx.b.example\r\n250 STARTTLS\r\n");
  expect_output(c, "STARTTLS\r\n");
  replies(c, "220 go ahead\r\n");
  const starling_client_event* e = starling_client_next_event(c);
  CHECK(e != NULL && e->type == STARLING_CLIENT_STARTTLS);
  CHECK(bytes_equal(e->sni, "mx.b.example"));
  facts.version = STARLING_TLS_1_2;
  facts.cipher_suite = "ECDHE_RSA_WITH_AES_256_GCM_SHA384";
  facts.forward_secret = 1;
  CHECK_OK(starling_client_tls_established(c, &facts, now));
  expect_output(c, "EHLO localhost\r\n");
  const starling_tls_info* tls = starling_client_tls(c);
  CHECK(tls != NULL && tls->version == STARLING_TLS_1_2 && tls->peer_chain_count == 0);
  starling_client_connection_lost(c, "reset by peer", now);
  CHECK(starling_client_finished(c));
  const starling_recipient_result* r = starling_client_recipient_result(c, 0, 0);
  CHECK(r->status == STARLING_RECIPIENT_TEMP_FAILED);
  starling_client_free(c);

  /* A failed handshake: nothing is delivered on this connection. */
  c = new_client(&options);
  replies(c, "220 mx.b.example ESMTP\r\n");
  replies(c, "250-mx.b.example\r\n250 STARTTLS\r\n");
  replies(c, "220 go ahead\r\n");
  CHECK(starling_client_next_event(c)->type == STARLING_CLIENT_STARTTLS);
  CHECK_OK(starling_client_tls_failed(c, "handshake_failure", now));
  r = starling_client_recipient_result(c, 0, 1);
  CHECK(r->status == STARLING_RECIPIENT_TEMP_FAILED);
  CHECK(strcmp(r->stage, "TLS handshake") == 0);
  starling_client_free(c);
}

static void test_policy_refuses_plaintext(void) {
  const char table_text[] = "* may\nb.example encrypt\n";
  starling_policy_table* table = NULL;
  CHECK_OK(starling_policy_table_parse(table_text, strlen(table_text), &table));
  starling_destination d;
  init_destination(&d);
  starling_client_options options;
  starling_client_options_init(&options);
  options.destination = &d;
  options.policy = table;
  starling_client* c = new_client(&options);
  replies(c, "220 mx.b.example ESMTP\r\n");
  expect_output(c, "EHLO localhost\r\n");
  replies(c, "250-mx.b.example\r\n250 PIPELINING\r\n");
  /* No STARTTLS offered: not one envelope byte in plaintext. */
  const starling_bytes out = starling_client_pending_output(c);
  CHECK(!bytes_contain(out, "MAIL FROM"));
  expect_output(c, "QUIT\r\n");
  replies(c, "221 bye\r\n");
  const starling_message_result* m = starling_client_message_result(c, 0);
  CHECK(m->policy_verdict == STARLING_VERDICT_DEFER);
  CHECK(strcmp(m->tlsrpt_result_type, "starttls-not-supported") == 0);
  const starling_recipient_result* r = starling_client_recipient_result(c, 0, 0);
  CHECK(r->status == STARLING_RECIPIENT_TEMP_FAILED && strcmp(r->stage, "STARTTLS") == 0);
  CHECK(strstr(r->detail, "encrypt:plaintext") != NULL);
  starling_client_free(c);
  starling_policy_table_free(table);
}

static void test_timeout_and_errors(void) {
  starling_destination d;
  init_destination(&d);
  starling_client_options options;
  starling_client_options_init(&options);
  options.destination = &d;
  starling_client* c = new_client(&options);
  const starling_time deadline = starling_client_next_deadline(c);
  CHECK_OK(starling_client_on_timeout(c, deadline));
  CHECK(starling_client_finished(c));
  CHECK(starling_client_recipient_result(c, 0, 0)->status == STARLING_RECIPIENT_TEMP_FAILED);
  starling_client_free(c);

  /* A malformed reply is fatal and typed. */
  c = new_client(&options);
  CHECK_STATUS(starling_client_receive(c, "220\x01 x\r\n", 8, now), STARLING_ABORTED);
  CHECK(strcmp(starling_client_fatal_reason(c), "malformed-reply") == 0);
  starling_client_free(c);

  /* Envelopes that cannot be sent are refused at creation. */
  starling_message m;
  init_message(&m);
  m.sender = "evil>@a.example";
  const starling_message* messages[1] = {&m};
  CHECK_STATUS(starling_client_new(&options, messages, 1, now, &c), STARLING_INVALID_ARGUMENT);
  CHECK(c == NULL);
  options.destination = NULL;
  init_message(&m);
  CHECK_STATUS(starling_client_new(&options, messages, 1, now, &c), STARLING_INVALID_ARGUMENT);
  CHECK_STATUS(starling_client_new(NULL, messages, 1, now, &c), STARLING_INVALID_ARGUMENT);
}

/* Both halves in one process over TLS that Starling runs: the pump. */
static void test_pump_over_tls(void) {
  starling_server_options so;
  starling_server_options_init(&so);
  so.hostname = "mx.capi.test";
  so.tls_cert_file = "core/capi/testdata/server.crt";
  so.tls_key_file = "core/capi/testdata/server.key";
  so.tls_rng = STARLING_RNG_SEEDED;
  so.tls_rng_seed = 7;
  starling_server* s = NULL;
  CHECK_OK(starling_server_new(&so, &s));
  CHECK_STATUS(starling_server_tls_failed(s, "x", now), STARLING_FAILED_PRECONDITION);

  starling_destination d;
  starling_destination_init(&d);
  d.next_hop_domain = "capi.test";
  d.mx_host = "mx.capi.test";
  starling_client_options co;
  starling_client_options_init(&co);
  co.destination = &d;
  co.starling_tls = 1;
  co.tls_ca_path = "core/capi/testdata/server.crt";
  co.tls_rng = STARLING_RNG_SEEDED;
  co.tls_rng_seed = 8;
  starling_message m;
  init_message(&m);
  const char* const rcpt[] = {"postmaster@capi.test"};
  m.recipients = rcpt;
  m.recipient_count = 1;
  const starling_message* messages[1] = {&m};
  starling_client* c = NULL;
  CHECK_OK(starling_client_new(&co, messages, 1, now, &c));
  CHECK_STATUS(starling_client_tls_failed(c, "x", now), STARLING_FAILED_PRECONDITION);

  CHECK_OK(starling_server_accept_connection(s, now));
  int saw_starttls = 0;
  for (int round = 0; round < 100; ++round) {
    starling_bytes wire = starling_server_pending_output(s);
    if (wire.size > 0) {
      CHECK_OK(starling_client_receive(c, wire.data, wire.size, now));
      starling_server_consume_output(s, wire.size);
    }
    wire = starling_client_pending_output(c);
    if (wire.size > 0) {
      CHECK_OK(starling_server_receive(s, wire.data, wire.size, now));
      starling_client_consume_output(c, wire.size, now);
    }
    const starling_server_event* e;
    while ((e = starling_server_next_event(s)) != NULL) {
      if (e->type == STARLING_SERVER_STARTTLS) saw_starttls = 1;
      if (e->type == STARLING_SERVER_HELO || e->type == STARLING_SERVER_MAIL_FROM ||
          e->type == STARLING_SERVER_RCPT_TO || e->type == STARLING_SERVER_MESSAGE_COMPLETE) {
        CHECK_OK(starling_server_accept(s, now));
      }
    }
    while (starling_client_next_event(c) != NULL) {
    }
    if (starling_client_finished(c) && starling_server_finished(s) &&
        starling_client_pending_output(c).size == 0 &&
        starling_server_pending_output(s).size == 0) {
      break;
    }
  }
  CHECK(saw_starttls);
  CHECK(starling_client_finished(c) && starling_server_finished(s));
  const starling_recipient_result* r = starling_client_recipient_result(c, 0, 0);
  CHECK(r->status == STARLING_RECIPIENT_DELIVERED);
  const starling_message_result* result = starling_client_message_result(c, 0);
  CHECK(result->over_tls == 1 && result->policy_verdict == STARLING_VERDICT_PROCEED_TLS);
  const starling_tls_info* tls = starling_client_tls(c);
  CHECK(tls != NULL && tls->version == STARLING_TLS_1_2);
  CHECK(tls->chain_verdict == STARLING_CHAIN_TRUSTED);
  CHECK(strstr(tls->peer_subject_dn, "mx.capi.test") != NULL);
  CHECK(starling_server_tls(s) != NULL);
  starling_client_free(c);
  starling_server_free(s);

  /* Credentials that do not load fail at creation, naming the file. */
  so.tls_cert_file = "core/capi/testdata/missing.crt";
  CHECK(starling_server_new(&so, &s) != STARLING_OK);
  CHECK(strstr(starling_last_error(), "missing.crt") != NULL);
  co.tls_ca_path = "core/capi/testdata/missing";
  CHECK(starling_client_new(&co, messages, 1, now, &c) != STARLING_OK);
}

int main(void) {
  test_plaintext_delivery();
  test_embedder_starttls();
  test_policy_refuses_plaintext();
  test_timeout_and_errors();
  test_pump_over_tls();
  printf("client_test: ok\n");
  return 0;
}
