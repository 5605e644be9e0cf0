#include "wick/byte_reader.h"
