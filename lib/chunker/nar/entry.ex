defmodule Chunker.NAR.Entry do
  @moduledoc """
  One node of a NAR, as the reader reports it (in NAR order).

    * `path` - relative to the root, components joined by `/`; `""` for the root
    * `type` - `:regular`, `:executable`, `:symlink` or `:directory`
    * `size` - content size of a file, else `nil`
    * `offset` - NAR offset of a file's first content byte, else `nil`
    * `target` - a symlink's target, else `nil`
    * `start` - NAR offset where the entry's metadata starts (its `entry`
      token; 0 for the root)
  """
  defstruct [:path, :type, :size, :offset, :target, :start]

  @type t :: %__MODULE__{
          path: binary(),
          type: :regular | :executable | :symlink | :directory,
          size: non_neg_integer() | nil,
          offset: non_neg_integer() | nil,
          target: binary() | nil,
          start: non_neg_integer()
        }

  @doc false
  def from_tuple({path, type, size, offset, target, start}),
    do: %__MODULE__{
      path: path,
      type: type,
      size: size,
      offset: offset,
      target: target,
      start: start
    }
end
