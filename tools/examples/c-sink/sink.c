/* An inbound SMTP sink in C99 on plain POSIX sockets, built on Starling's C
 * API: the proof that a C relay can embed Starling (docs/embedding.md).
 *
 *   sink [--port-file FILE] [--messages N] [--reject DOMAIN]
 *
 * Listens on 127.0.0.1 on a port the kernel picks (written to FILE, or to
 * stdout), serves one connection at a time, accepts every sender and every
 * recipient except those @DOMAIN (550 5.1.1), prints each message's envelope
 * and body to stdout, and exits after N messages (default: never). The
 * sockets, the clock and the spool are the embedder's; Starling sees bytes
 * and time only. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/capi/starling.h"

static starling_time now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (starling_time)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes everything the session has to say; 0 when the peer is gone. */
static int flush(int fd, starling_server* s) {
  for (;;) {
    const starling_bytes out = starling_server_pending_output(s);
    if (out.size == 0) return 1;
    const ssize_t n = send(fd, out.data, out.size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    starling_server_consume_output(s, (size_t)n);
  }
}

static int ends_with_domain(starling_bytes mailbox, const char* domain) {
  const size_t n = strlen(domain);
  return domain[0] != '\0' && mailbox.size > n && mailbox.data[mailbox.size - n - 1] == '@' &&
         memcmp(mailbox.data + mailbox.size - n, domain, n) == 0;
}

/* Answers every event; returns the number of messages accepted. */
static int handle_events(starling_server* s, const char* reject_domain) {
  int accepted = 0;
  const starling_server_event* e;
  while ((e = starling_server_next_event(s)) != NULL) {
    const starling_time t = now_ns();
    switch (e->type) {
      case STARLING_SERVER_HELO:
        printf("HELO %.*s\n", (int)e->domain.size, e->domain.data);
        starling_server_accept(s, t);
        break;
      case STARLING_SERVER_MAIL_FROM:
        printf("MAIL FROM:<%.*s>\n", (int)e->mailbox.size, e->mailbox.data);
        starling_server_accept(s, t);
        break;
      case STARLING_SERVER_RCPT_TO:
        if (ends_with_domain(e->mailbox, reject_domain)) {
          starling_server_reject(s, 550, "5.1.1", "No such user here", t);
        } else {
          printf("RCPT TO:<%.*s>\n", (int)e->mailbox.size, e->mailbox.data);
          starling_server_accept(s, t);
        }
        break;
      case STARLING_SERVER_MESSAGE_DATA:
        fwrite(e->data.data, 1, e->data.size, stdout);
        break;
      case STARLING_SERVER_MESSAGE_COMPLETE:
        printf("END %llu octets\n", (unsigned long long)e->message_size);
        starling_server_accept(s, t);
        ++accepted;
        break;
      case STARLING_SERVER_MESSAGE_ABORTED:
        printf("ABORTED %.*s\n", (int)e->reason.size, e->reason.data);
        break;
      case STARLING_SERVER_CLOSED:
        printf("CLOSED %.*s\n", (int)e->reason.size, e->reason.data);
        break;
      default: /* no STARTTLS or AUTH is offered */
        break;
    }
  }
  fflush(stdout);
  return accepted;
}

/* One SMTP session on a connected socket. */
static int serve(int fd, const char* reject_domain) {
  starling_server_options options;
  starling_server_options_init(&options);
  options.hostname = "sink.localhost";
  starling_server* s = NULL;
  if (starling_server_new(&options, &s) != STARLING_OK) {
    fprintf(stderr, "sink: %s\n", starling_last_error());
    return 0;
  }
  int accepted = 0;
  starling_server_accept_connection(s, now_ns());
  while (flush(fd, s) && !starling_server_finished(s)) {
    const starling_time deadline = starling_server_next_deadline(s);
    int wait_ms = -1;
    if (deadline != STARLING_TIME_NEVER) {
      const starling_time left = deadline - now_ns();
      wait_ms = left <= 0 ? 0 : (int)(left / 1000000 + 1);
    }
    struct pollfd p = {fd, POLLIN, 0};
    const int ready = poll(&p, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      starling_server_on_timeout(s, now_ns());
    } else {
      char buffer[16384];
      const ssize_t n = ready < 0 ? -1 : recv(fd, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        starling_server_connection_lost(s, now_ns());
      } else if (starling_server_receive(s, buffer, (size_t)n, now_ns()) != STARLING_OK) {
        fprintf(stderr, "sink: %s\n", starling_last_error());
      }
    }
    accepted += handle_events(s, reject_domain);
  }
  accepted += handle_events(s, reject_domain);
  starling_server_free(s);
  return accepted;
}

int main(int argc, char** argv) {
  const char* port_file = NULL;
  const char* reject_domain = "";
  long max_messages = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--port-file") == 0) {
      port_file = argv[i + 1];
    } else if (strcmp(argv[i], "--messages") == 0) {
      max_messages = strtol(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--reject") == 0) {
      reject_domain = argv[i + 1];
    } else {
      fprintf(stderr, "usage: sink [--port-file FILE] [--messages N] [--reject DOMAIN]\n");
      return 2;
    }
  }
  if (starling_abi_version() != STARLING_ABI_VERSION) {
    fprintf(stderr, "sink: built for ABI %d, linked with %d\n", STARLING_ABI_VERSION,
            starling_abi_version());
    return 1;
  }

  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0; /* the kernel picks */
  socklen_t len = sizeof addr;
  if (listener < 0 || bind(listener, (struct sockaddr*)&addr, sizeof addr) != 0 ||
      listen(listener, 8) != 0 || getsockname(listener, (struct sockaddr*)&addr, &len) != 0) {
    perror("sink: listen");
    return 1;
  }
  FILE* out = port_file != NULL ? fopen(port_file, "w") : stdout;
  if (out == NULL) {
    perror("sink: port file");
    return 1;
  }
  fprintf(out, "%d\n", ntohs(addr.sin_port));
  if (out != stdout) fclose(out);
  fprintf(stderr, "sink: Starling %s on 127.0.0.1:%d\n", starling_version(), ntohs(addr.sin_port));
  fflush(stdout);

  long messages = 0;
  while (max_messages < 0 || messages < max_messages) {
    const int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      perror("sink: accept");
      return 1;
    }
    messages += serve(fd, reject_domain);
    close(fd);
  }
  close(listener);
  return 0;
}
