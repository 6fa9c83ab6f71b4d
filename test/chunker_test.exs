defmodule ChunkerTest do
  use ExUnit.Case, async: true
  doctest Chunker
end
