/* The server half of the C API, from C: a whole transaction, every
 * decision call, embedder-run STARTTLS, AUTH, timers and fatal errors. */
#include <stdint.h>
#include <string.h>

#include "core/capi/capi_check.h"
#include "core/capi/starling.h"

static starling_time now = TEST_NOW;

/* Feeds `line` and expects one event of `type`. */
static const starling_server_event* feed(starling_server* s, const char* line,
                                         starling_server_event_type type) {
  CHECK_OK(starling_server_receive(s, line, strlen(line), now));
  const starling_server_event* e = starling_server_next_event(s);
  CHECK(e != NULL);
  CHECK(e->type == type);
  return e;
}

/* The pending output contains `text`; it is consumed. */
static void expect_output(starling_server* s, const char* text) {
  const starling_bytes out = starling_server_pending_output(s);
  if (!bytes_contain(out, text)) {
    fprintf(stderr, "output lacks \"%s\": %.*s\n", text, (int)out.size, out.data);
    exit(1);
  }
  starling_server_consume_output(s, out.size);
}

static starling_server* new_server(const starling_server_options* options) {
  starling_server* s = NULL;
  CHECK_OK(starling_server_new(options, &s));
  CHECK_OK(starling_server_accept_connection(s, now));
  expect_output(s, "220 ");
  return s;
}

static void test_version(void) {
  CHECK(strcmp(starling_version(), STARLING_VERSION) == 0);
  CHECK(starling_abi_version() == STARLING_ABI_VERSION);
  CHECK(strcmp(starling_status_name(STARLING_ABORTED), "ABORTED") == 0);
  CHECK(strcmp(starling_status_name(STARLING_OK), "OK") == 0);
}

static void test_transaction(void) {
  starling_server_options options;
  starling_server_options_init(&options);
  options.hostname = "mx.capi.test";
  starling_server* s = NULL;
  CHECK_OK(starling_server_new(&options, &s));
  CHECK(starling_server_next_deadline(s) == STARLING_TIME_NEVER);
  CHECK_OK(starling_server_accept_connection(s, now));
  expect_output(s, "220 mx.capi.test ESMTP Starling\r\n");

  const starling_server_event* e = feed(s, "EHLO client.example\r\n", STARLING_SERVER_HELO);
  CHECK(e->ehlo == 1);
  CHECK(bytes_equal(e->domain, "client.example"));
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "250-mx.capi.test");
  CHECK(strcmp(starling_server_helo_name(s), "client.example") == 0);
  CHECK(starling_server_tls(s) == NULL);

  e = feed(s, "MAIL FROM:<alice@a.example> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=x1\r\n",
           STARLING_SERVER_MAIL_FROM);
  CHECK(bytes_equal(e->mailbox, "alice@a.example"));
  CHECK(e->null_path == 0 && e->has_size == 1 && e->size == 100);
  CHECK(e->body == STARLING_BODY_8BITMIME && e->ret == STARLING_RET_HEADERS);
  CHECK(bytes_equal(e->envid, "x1"));
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "250 2.1.0");

  e = feed(s, "RCPT TO:<nobody@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;nobody@b.example\r\n",
           STARLING_SERVER_RCPT_TO);
  CHECK(e->notify == (STARLING_NOTIFY_SUCCESS | STARLING_NOTIFY_FAILURE));
  CHECK(bytes_equal(e->orcpt, "rfc822;nobody@b.example"));
  CHECK_STATUS(starling_server_reject(s, 550, "5.1.x", "bad code", now),
               STARLING_INVALID_ARGUMENT);
  CHECK(strstr(starling_last_error(), "5.1.x") != NULL);
  CHECK_OK(starling_server_reject(s, 550, "5.1.1", "No such user", now));
  expect_output(s, "550 5.1.1 No such user\r\n");

  feed(s, "RCPT TO:<bob@b.example>\r\n", STARLING_SERVER_RCPT_TO);
  CHECK_OK(starling_server_accept_with(s, 250, "2.1.5", "Bob is here", now));
  expect_output(s, "250 2.1.5 Bob is here\r\n");

  CHECK_OK(starling_server_receive(s, "DATA\r\n", 6, now));
  CHECK(starling_server_next_event(s) == NULL);
  expect_output(s, "354 ");
  const char body[] = "Subject: hi\r\n\r\n..stuffed\r\n.\r\n";
  CHECK_OK(starling_server_receive(s, body, strlen(body), now));
  e = starling_server_next_event(s);
  CHECK(e != NULL && e->type == STARLING_SERVER_MESSAGE_DATA);
  CHECK(bytes_equal(e->data, "Subject: hi\r\n\r\n.stuffed\r\n"));
  e = starling_server_next_event(s);
  CHECK(e != NULL && e->type == STARLING_SERVER_MESSAGE_COMPLETE);
  CHECK(e->message_size == 25 && e->via_bdat == 0);
  CHECK(starling_server_next_deadline(s) == STARLING_TIME_NEVER); /* deciding */
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "250 2.0.0");
  CHECK(starling_server_next_deadline(s) == now + SECONDS(300));

  /* No decision is pending: misuse, nothing changes. */
  CHECK_STATUS(starling_server_accept(s, now), STARLING_FAILED_PRECONDITION);
  CHECK(strlen(starling_last_error()) > 0);

  CHECK_OK(starling_server_receive(s, "QUIT\r\n", 6, now));
  e = starling_server_next_event(s);
  CHECK(e != NULL && e->type == STARLING_SERVER_CLOSED);
  CHECK(starling_server_finished(s));
  expect_output(s, "221 ");
  CHECK(strcmp(starling_server_fatal_reason(s), "none") == 0);
  starling_server_free(s);
  starling_server_free(NULL);
}

static void test_embedder_starttls(void) {
  starling_server_options options;
  starling_server_options_init(&options);
  options.offer_starttls = 1;
  starling_server* s = new_server(&options);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "250-STARTTLS");
  /* Reporting TLS before STARTTLS is misuse. */
  starling_tls_facts facts;
  starling_tls_facts_init(&facts);
  CHECK_STATUS(starling_server_tls_established(s, &facts, now),
               STARLING_FAILED_PRECONDITION);

  feed(s, "STARTTLS\r\n", STARLING_SERVER_STARTTLS);
  expect_output(s, "220 ");
  CHECK(starling_server_next_deadline(s) == now + SECONDS(300));
  size_t der_size = 0;
  char* der = read_file("core/capi/testdata/server.der", &der_size);
  starling_bytes chain[1] = {{der, der_size}};
  facts.version = STARLING_TLS_1_2;
  facts.cipher_suite = "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256";
  facts.key_exchange_group = "x25519";
  facts.forward_secret = 1;
  facts.peer_chain_der = chain;
  facts.peer_chain_count = 1;
  facts.chain_verdict = STARLING_CHAIN_TRUSTED;
  CHECK_OK(starling_server_tls_established(s, &facts, now));
  free(der);
  const starling_tls_info* tls = starling_server_tls(s);
  CHECK(tls != NULL);
  CHECK(tls->version == STARLING_TLS_1_2 && strcmp(tls->version_name, "TLSv1.2") == 0);
  CHECK(strcmp(tls->cipher_suite, "ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") == 0);
  CHECK(tls->forward_secret == 1 && tls->peer_chain_count == 1);
  CHECK(strstr(tls->peer_subject_dn, "mx.capi.test") != NULL);
  CHECK(tls->chain_verdict == STARLING_CHAIN_TRUSTED);
  /* Fresh after the handshake: EHLO again, no STARTTLS offered. */
  CHECK(strcmp(starling_server_helo_name(s), "") == 0);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  const starling_bytes out = starling_server_pending_output(s);
  CHECK(!bytes_contain(out, "STARTTLS"));
  starling_server_free(s);

  /* A failed handshake closes the session without a word. */
  s = new_server(&options);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "250 ");
  feed(s, "STARTTLS\r\n", STARLING_SERVER_STARTTLS);
  expect_output(s, "220 ");
  CHECK_OK(starling_server_tls_failed(s, "no shared cipher", now));
  CHECK(starling_server_next_event(s)->type == STARLING_SERVER_CLOSED);
  CHECK(starling_server_finished(s));
  starling_server_free(s);

  /* Bad facts are refused before they reach the session. */
  s = new_server(&options);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  feed(s, "STARTTLS\r\n", STARLING_SERVER_STARTTLS);
  starling_bytes garbage[1] = {{"not DER", 7}};
  facts.peer_chain_der = garbage;
  CHECK_STATUS(starling_server_tls_established(s, &facts, now),
               STARLING_INVALID_ARGUMENT);
  CHECK(strstr(starling_last_error(), "peer_chain_der[0]") != NULL);
  CHECK_STATUS(starling_server_tls_established(s, NULL, now), STARLING_INVALID_ARGUMENT);
  starling_server_free(s);

  /* TLS unavailable: STARTTLS is answered 454. */
  s = new_server(&options);
  starling_server_set_tls_available(s, 0);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  starling_server_consume_output(s, starling_server_pending_output(s).size);
  CHECK_OK(starling_server_receive(s, "STARTTLS\r\n", 10, now));
  CHECK(starling_server_next_event(s) == NULL);
  expect_output(s, "454 4.7.0");
  starling_server_free(s);
}

static void test_auth(void) {
  starling_server_options options;
  starling_server_options_init(&options);
  options.auth_mechanisms = "PLAIN X-TEST";
  options.auth_in_plaintext = 1;
  starling_server* s = new_server(&options);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "AUTH PLAIN X-TEST\r\n");
  /* \0alice\0secret */
  const starling_server_event* e =
      feed(s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", STARLING_SERVER_AUTH);
  CHECK(bytes_equal(e->auth_mechanism, "PLAIN"));
  CHECK(bytes_equal(e->auth_username, "alice"));
  CHECK(bytes_equal(e->auth_password, "secret"));
  CHECK(bytes_equal(e->auth_authorization_id, ""));
  CHECK_OK(starling_server_accept(s, now));
  expect_output(s, "235 ");
  CHECK(strcmp(starling_server_authenticated_user(s), "alice") == 0);
  starling_server_free(s);

  s = new_server(&options);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  starling_server_consume_output(s, starling_server_pending_output(s).size);
  e = feed(s, "AUTH X-TEST\r\n", STARLING_SERVER_AUTH);
  CHECK(bytes_equal(e->auth_mechanism, "X-TEST"));
  CHECK_OK(starling_server_auth_challenge(s, "hi", 2, now));
  expect_output(s, "334 aGk=\r\n");
  e = feed(s, "b2s=\r\n", STARLING_SERVER_AUTH); /* "ok" */
  CHECK(bytes_equal(e->auth_response, "ok"));
  CHECK_OK(starling_server_reject(s, 535, "5.7.8", "Nope", now));
  expect_output(s, "535 5.7.8 Nope\r\n");
  starling_server_free(s);
}

static void test_endings(void) {
  starling_server_options options;
  starling_server_options_init(&options);

  /* Refused connection. */
  starling_server* s = NULL;
  CHECK_OK(starling_server_new(&options, &s));
  CHECK_OK(starling_server_refuse_connection(s, 554, "", "Go away", now));
  expect_output(s, "554 Go away\r\n");
  starling_server_free(s);

  /* The command timer. */
  s = new_server(&options);
  const starling_time deadline = starling_server_next_deadline(s);
  CHECK(deadline == now + SECONDS(300));
  CHECK_OK(starling_server_on_timeout(s, deadline));
  expect_output(s, "421 4.4.2");
  CHECK(starling_server_next_event(s)->type == STARLING_SERVER_CLOSED);
  CHECK(starling_server_finished(s));
  starling_server_free(s);

  /* Shutdown. */
  s = new_server(&options);
  starling_server_shutdown(s, now);
  expect_output(s, "421 4.3.2");
  CHECK(starling_server_finished(s));
  starling_server_free(s);

  /* The connection lost in DATA: the message is void. */
  s = new_server(&options);
  feed(s, "HELO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  feed(s, "MAIL FROM:<>\r\n", STARLING_SERVER_MAIL_FROM);
  CHECK(starling_server_next_event(s) == NULL);
  CHECK_OK(starling_server_accept(s, now));
  feed(s, "RCPT TO:<x@b.example>\r\n", STARLING_SERVER_RCPT_TO);
  CHECK_OK(starling_server_accept(s, now));
  CHECK_OK(starling_server_receive(s, "DATA\r\n", 6, now));
  CHECK_OK(starling_server_receive(s, "partial", 7, now));
  starling_server_connection_lost(s, now);
  const starling_server_event* e = starling_server_next_event(s);
  while (e != NULL && e->type == STARLING_SERVER_MESSAGE_DATA) e = starling_server_next_event(s);
  CHECK(e != NULL && e->type == STARLING_SERVER_MESSAGE_ABORTED);
  CHECK(e->reason.size > 0);
  CHECK(starling_server_next_event(s)->type == STARLING_SERVER_CLOSED);
  starling_server_free(s);

  /* A bare LF in DATA is fatal and sticky. */
  s = new_server(&options);
  feed(s, "EHLO c.example\r\n", STARLING_SERVER_HELO);
  CHECK_OK(starling_server_accept(s, now));
  feed(s, "MAIL FROM:<a@a.example>\r\n", STARLING_SERVER_MAIL_FROM);
  CHECK_OK(starling_server_accept(s, now));
  feed(s, "RCPT TO:<x@b.example>\r\n", STARLING_SERVER_RCPT_TO);
  CHECK_OK(starling_server_accept(s, now));
  starling_server_consume_output(s, starling_server_pending_output(s).size);
  CHECK_OK(starling_server_receive(s, "DATA\r\n", 6, now));
  CHECK_STATUS(starling_server_receive(s, "a\nb\r\n.\r\n", 8, now), STARLING_ABORTED);
  CHECK(strcmp(starling_server_fatal_reason(s), "bare-line-ending") == 0);
  CHECK_STATUS(starling_server_receive(s, "NOOP\r\n", 6, now), STARLING_ABORTED);
  expect_output(s, "554 5.5.2");
  CHECK(starling_server_finished(s));
  starling_server_free(s);

  /* NULL handles are refused, not dereferenced. */
  CHECK_STATUS(starling_server_new(NULL, NULL), STARLING_INVALID_ARGUMENT);
  CHECK_STATUS(starling_server_accept(NULL, now), STARLING_INVALID_ARGUMENT);
  CHECK(starling_server_next_event(NULL) == NULL);
}

int main(void) {
  test_version();
  test_transaction();
  test_embedder_starttls();
  test_auth();
  test_endings();
  printf("server_test: ok\n");
  return 0;
}
