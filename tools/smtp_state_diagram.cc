// Writes the Graphviz source of the SMTP server's transition table to stdout:
//   bazel run //tools:smtp_state_diagram > docs/smtp-server.dot
#include <iostream>

#include "core/smtp/server_transitions.h"

int main() {
  std::cout << starling::smtp::ServerTransitionsDot();
  return 0;
}
