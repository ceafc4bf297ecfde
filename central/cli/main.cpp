#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  return yiban::cli::run(argc, argv, std::cout, std::cerr);
}
