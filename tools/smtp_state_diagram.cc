// Writes the Graphviz source of an SMTP session's transition table:
//   bazel run //tools:smtp_state_diagram -- server > docs/smtp-server.dot
//   bazel run //tools:smtp_state_diagram -- client > docs/smtp-client.dot
#include <iostream>
#include <string>

#include "core/smtp/client_transitions.h"
#include "core/smtp/server_transitions.h"

int main(int argc, char** argv) {
  const std::string side = argc > 1 ? argv[1] : "server";
  if (side == "--help" || side == "-h") {
    std::cout << "usage: smtp_state_diagram [server|client]\n"
                 "Prints the Graphviz source of a session's transition "
                 "table (docs/smtp-server.dot, docs/smtp-client.dot).\n";
    return 0;
  }
  if (side == "server") {
    std::cout << starling::smtp::ServerTransitionsDot();
  } else if (side == "client") {
    std::cout << starling::smtp::ClientTransitionsDot();
  } else {
    std::cerr << "smtp_state_diagram: unknown side \"" << side
              << "\" (want server or client)\n";
    return 2;
  }
  return 0;
}
