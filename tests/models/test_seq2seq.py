import pytest
import torch
import torch.nn.functional as F

from rnnkit.decoding import generate
from rnnkit.models.seq2seq import ATTENTIONS, Attention, Seq2Seq, Seq2SeqConfig

V_SOURCE, V_TARGET, START, END = 13, 11, 2, 3


def make(attention="general", cell="lstm", **kwargs):
    torch.manual_seed(0)
    options = dict(source_vocab_size=V_SOURCE, target_vocab_size=V_TARGET, embedding_size=6, hidden_size=8,
                   attention=attention, cell=cell, input_feeding=attention != "none")
    options.update(kwargs)
    return Seq2Seq(Seq2SeqConfig(**options)).double().eval()


def padded_batch(lengths, seed=1):
    generator = torch.Generator().manual_seed(seed)
    source = torch.randint(4, V_SOURCE, (len(lengths), max(lengths)), generator=generator)
    for row, length in enumerate(lengths):
        source[row, length:] = torch.randint(0, V_SOURCE, (max(lengths) - length,), generator=generator)  # junk
    return source, torch.tensor(lengths)


CONFIGS = [(a, c) for a in ATTENTIONS for c in ("lstm", "gru")]


@pytest.mark.parametrize("attention", ATTENTIONS[1:])
def test_attention_weights_sum_to_one_and_are_exactly_zero_on_padding(attention):
    model = make(attention)
    source, lengths = padded_batch([5, 2, 4, 1])
    target = torch.randint(4, V_TARGET, (4, 6))
    weights = model(source, target, source_lengths=lengths).attention  # (B, T, S)
    assert weights.shape == (4, 6, 5)
    for row, length in enumerate(lengths.tolist()):
        assert torch.equal(weights[row, :, length:], torch.zeros(6, 5 - length, dtype=weights.dtype))
        torch.testing.assert_close(weights[row, :, :length].sum(-1), torch.ones(6, dtype=weights.dtype))
        assert bool((weights[row, :, :length] > 0).all())


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_attention_matches_the_formulas_element_by_element(score):
    torch.manual_seed(0)
    attention = Attention(score, 4, 5).double()
    query, memory = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 6, 4, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    context, weights = attention(query, attention.keys(memory), memory, mask)
    for b in range(2):
        valid = int(mask[b].sum())
        for t in range(3):
            h = query[b, t]
            scores = []
            for s in range(valid):
                m = memory[b, s]
                if score == "dot":
                    scores.append(h @ m)
                elif score == "general":
                    scores.append(h @ (attention.weight.weight @ m))
                else:
                    hidden = torch.tanh(attention.query.weight @ h + attention.memory.weight @ m + attention.memory.bias)
                    scores.append(attention.vector.weight[0] @ hidden)
            alpha = torch.softmax(torch.stack(scores), 0)
            torch.testing.assert_close(weights[b, t, :valid], alpha)
            torch.testing.assert_close(context[b, t], alpha @ memory[b, :valid])


@pytest.mark.parametrize("attention,cell", CONFIGS)
def test_masked_batch_equals_one_by_one(attention, cell):
    model = make(attention, cell, num_layers=2)
    lengths = [5, 2, 4, 1]
    source, lengths_tensor = padded_batch(lengths)
    target = torch.randint(4, V_TARGET, (4, 6))
    encoded = model.encode(source, lengths_tensor)
    batch = model(source, target, source_lengths=lengths_tensor)
    for row, length in enumerate(lengths):
        alone_source = source[row:row + 1, :length]
        alone_encoded = model.encode(alone_source)
        torch.testing.assert_close(encoded.memory[row, :length], alone_encoded.memory[0])
        assert torch.equal(encoded.memory[row, length:], torch.zeros_like(encoded.memory[row, length:]))
        states = encoded.state if cell == "lstm" else (encoded.state,)
        alone_states = alone_encoded.state if cell == "lstm" else (alone_encoded.state,)
        for part, alone_part in zip(states, alone_states, strict=True):
            torch.testing.assert_close(part[:, row], alone_part[:, 0])
        alone = model(alone_source, target[row:row + 1])
        torch.testing.assert_close(batch.logits[row], alone.logits[0])
        if attention != "none":
            torch.testing.assert_close(batch.attention[row, :, :length], alone.attention[0])


@pytest.mark.parametrize("attention,cell", CONFIGS)
def test_incremental_decoding_equals_teacher_forcing(attention, cell):
    model = make(attention, cell)
    source, lengths = padded_batch([4, 3, 1])
    target = torch.randint(4, V_TARGET, (3, 5))
    full = model(source, target, source_lengths=lengths).logits
    decoder = model.decoder(source, lengths)
    logits, state = decoder(target[:, :2])
    steps = [logits]
    for t in range(2, 5):
        logits, state = decoder(target[:, t:t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_decoder_lengths_give_the_state_after_each_rows_last_token():
    model = make("additive", "lstm")
    source, lengths = padded_batch([4, 3])
    target = torch.randint(4, V_TARGET, (2, 5))
    decoder = model.decoder(source, lengths)
    _, state = decoder(target, lengths=torch.tensor([5, 2]))
    _, state_short = model.decoder(source[1:, :3])(target[1:, :2])
    torch.testing.assert_close(state.rnn[0][:, 1], state_short.rnn[0][:, 0])
    torch.testing.assert_close(state.feed[:, 1], state_short.feed[:, 0])


def test_without_input_feeding_the_whole_sequence_path_equals_the_step_loop():
    model = make("dot", "gru", input_feeding=False)
    source, lengths = padded_batch([4, 2])
    target = torch.randint(4, V_TARGET, (2, 5))
    state = model.initial_state(model.encode(source, lengths))
    whole, weights, _ = model.decode(target, state)
    stepped, stepped_weights, _ = model.decode(target, state, lengths=torch.tensor([5, 5]))  # forces the loop
    torch.testing.assert_close(whole, stepped)
    torch.testing.assert_close(weights, stepped_weights)


@pytest.mark.parametrize("method", ["greedy", "beam"])
@pytest.mark.parametrize("attention", ["none", "general"])
def test_decoding_a_batch_equals_decoding_one_by_one(method, attention):
    model = make(attention, "lstm", hidden_size=16)
    with torch.no_grad():
        model.output.weight.mul_(4)  # peaked distributions so beams and greedy differ
    lengths = [5, 2, 4, 1]
    source, lengths_tensor = padded_batch(lengths)
    kwargs = dict(method=method, max_new_tokens=7, eos_id=END)
    if method == "beam":
        kwargs["beam_size"] = 3
    prompts = torch.full((4, 1), START)
    batch = generate(model.decoder(source, lengths_tensor), prompts, **kwargs)
    for row, length in enumerate(lengths):
        alone = generate(model.decoder(source[row:row + 1, :length]), prompts[:1], **kwargs)
        n = int(alone.lengths[0])
        assert int(batch.lengths[row]) == n
        assert batch.tokens[row, :n].tolist() == alone.tokens[0, :n].tolist()
        torch.testing.assert_close(batch.scores[row], alone.scores[0])


def test_beam_of_width_one_is_greedy():
    model = make("general", "gru")
    source, lengths = padded_batch([5, 3])
    prompts = torch.full((2, 1), START)
    greedy = generate(model.decoder(source, lengths), prompts, method="greedy", max_new_tokens=6, eos_id=END)
    beam = generate(model.decoder(source, lengths), prompts, method="beam", beam_size=1, max_new_tokens=6,
                    eos_id=END, length_penalty=0.0)
    assert greedy.tokens.tolist() == beam.tokens.tolist()


def test_tied_embeddings_share_one_tensor_and_project_when_sizes_differ():
    model = make(tie_embeddings=True)
    assert model.output.weight is model.target_embedding.weight
    assert model.projection is not None and model.projection.in_features == 8
    same = make(tie_embeddings=True, embedding_size=8)
    assert same.projection is None


def test_scheduled_sampling():
    model = make("general").train()
    source, lengths = padded_batch([4, 3])
    target = torch.randint(4, V_TARGET, (2, 6))
    model.dropout.p = 0.0
    forced = model(source, target, source_lengths=lengths).logits
    torch.testing.assert_close(model(source, target, source_lengths=lengths, sampling_ratio=0.0).logits, forced)
    torch.manual_seed(3)
    sampled = model(source, target, source_lengths=lengths, sampling_ratio=1.0).logits
    torch.testing.assert_close(sampled[:, 0], forced[:, 0])  # the first input is always the start token
    assert not torch.allclose(sampled[:, 1:], forced[:, 1:])  # later inputs are the model's own samples
    with pytest.raises(ValueError, match="sampling_ratio"):
        model(source, target, sampling_ratio=1.5)


def test_gradients_reach_every_parameter():
    model = make("additive", "lstm", tie_embeddings=True).train()
    source, lengths = padded_batch([4, 3])
    target = torch.randint(4, V_TARGET, (2, 5))
    out = model(source, target, source_lengths=lengths)
    F.cross_entropy(out.logits.flatten(0, 1), target.flatten()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name


@pytest.mark.parametrize("field,value,match", [
    ("attention", "luong", "attention: expected one of"),
    ("cell", "rnn_tanh", "cell: expected one of"),
    ("hidden_size", 7, "hidden_size: expected an even int"),
    ("embedding_size", 0, "embedding_size: expected an int >= 1"),
    ("dropout", 1.0, "dropout: expected a value in"),
])
def test_config_errors_name_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        Seq2SeqConfig(**{field: value})


def test_input_feeding_needs_attention():
    with pytest.raises(ValueError, match="input_feeding: expected False with attention 'none'"):
        Seq2SeqConfig(attention="none", input_feeding=True)


def test_model_errors():
    with pytest.raises(ValueError, match="source_vocab_size must be set"):
        Seq2Seq(Seq2SeqConfig(target_vocab_size=5))
    with pytest.raises(TypeError, match="config must be a Seq2SeqConfig"):
        Seq2Seq({"attention": "dot"})
    model = make()
    with pytest.raises(ValueError, match="source_lengths: expected every length <= 3"):
        model.encode(torch.zeros(2, 3, dtype=torch.long), torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="source: expected a \\(B, S\\) tensor"):
        model.encode(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="tokens: expected 2 rows"):
        model.decoder(torch.zeros(2, 3, dtype=torch.long) + 4)(torch.zeros(3, 1, dtype=torch.long))


def test_bundle_round_trip(tmp_path):
    from rnnkit.bundle import load, save
    from rnnkit.text.tokenizer import Tokenizer

    model = make("additive", "gru").float()
    source = Tokenizer.build(["abcdefghi"], level="char")
    target = Tokenizer.build(["0123456"], level="char")
    save(tmp_path / "b", model, source, task="translation", tokenizers={"target": target})
    bundle = load(tmp_path / "b")
    assert bundle.info["kind"] == "seq2seq" and bundle.tokenizers["target"] == target
    x, lengths = padded_batch([3, 2])
    y = torch.randint(4, V_TARGET, (2, 4))
    torch.testing.assert_close(bundle.model(x, y, source_lengths=lengths).logits,
                               model(x, y, source_lengths=lengths).logits)
