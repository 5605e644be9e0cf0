// Whether ncurses can drive the terminal on stdout, asked apart from top_command.cc: <term.h>
// defines macros (lines, columns, ...) that would clash with names elsewhere.
#include <curses.h>
#include <term.h>
#include <unistd.h>

namespace wick::cli {

bool TerminalKnown();  // commands.h, not included: its names would meet the macros above

bool TerminalKnown() {
  int error = 0;
  const bool known = setupterm(nullptr, STDOUT_FILENO, &error) == OK;
  if (cur_term != nullptr) del_curterm(cur_term);
  return known;
}

}  // namespace wick::cli
