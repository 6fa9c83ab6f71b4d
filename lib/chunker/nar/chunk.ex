defmodule Chunker.NAR.Chunk do
  @moduledoc """
  A chunk of a NAR (see `Chunker.NAR.chunk/2`).

    * `offset`, `length` - the chunk's place in the NAR
    * `hash` - digest of its bytes (the **normalised** bytes when
      references are normalised), `nil` with `hash: :none`
    * `data` - its bytes with `payloads: true`, else `nil`
    * `entries` - `{first, last}`: indices in the entry list of the entries
      it overlaps (an entry spans from its `start` to the next one's)
    * `kind` - `:metadata` (no content bytes), `:contents` (content of one
      file only) or `:mixed`
  """
  defstruct [:offset, :length, :hash, :data, :entries, :kind]

  @type t :: %__MODULE__{
          offset: non_neg_integer(),
          length: pos_integer(),
          hash: <<_::256>> | nil,
          data: binary() | nil,
          entries: {non_neg_integer(), non_neg_integer()},
          kind: :metadata | :contents | :mixed
        }

  @doc false
  def from_tuple({offset, length, hash, data, entries, kind}),
    do: %__MODULE__{
      offset: offset,
      length: length,
      hash: hash,
      data: data,
      entries: entries,
      kind: kind
    }
end
