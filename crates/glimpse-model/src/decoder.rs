//! The attention LSTM decoder, one word per step.
//!
//! Per step (the notebook's `DecoderRNN`, sgrvinod's `DecoderWithAttention`):
//! ```text
//! α, z = attention(features, h)
//! z    = σ(f_beta(h)) ⊙ z                 only with the gate (sgrvinod)
//! h, c = lstm_cell([embedding(word) ; z], (h, c))
//! logits = fcn(dropout(h))
//! ```
//! with `h₀ = init_h(mean features)`, `c₀ = init_c(mean features)`.

use crate::activation::sigmoid;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor};

use crate::attention::{Attention, AttentionDims};
use crate::config::AttentionActivation;
use crate::lstm::{LstmCell, LstmState};
use crate::params::{ParamSlot, TorchParams, join};

/// The sizes of the decoder and its attention, built by [`crate::ModelConfig::decoder_dims`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoderDims {
    pub vocab_size: usize,
    pub embed_dim: usize,
    /// The LSTM's hidden size.
    pub decoder_dim: usize,
    /// Channels of each grid cell's feature vector.
    pub encoder_dim: usize,
    pub attention_dim: usize,
    pub activation: AttentionActivation,
    /// Whether the context passes the gate `σ(f_beta(h))`.
    pub gate: bool,
    /// Dropout before the vocabulary projection, active only while training.
    pub dropout: f64,
}

impl DecoderDims {
    /// The sizes of the attention layer inside this decoder.
    pub fn attention(&self) -> AttentionDims {
        AttentionDims {
            encoder_dim: self.encoder_dim,
            decoder_dim: self.decoder_dim,
            attention_dim: self.attention_dim,
            activation: self.activation,
        }
    }
}

#[derive(Module, Debug)]
pub struct Decoder {
    embedding: Embedding,
    attention: Attention,
    init_h: Linear,
    init_c: Linear,
    lstm_cell: LstmCell,
    /// Context gate `σ(f_beta(h))`, when configured.
    f_beta: Option<Linear>,
    dropout: Dropout,
    /// Vocabulary projection (the notebook's `fcn`, sgrvinod's `fc`).
    fcn: Linear,
}

/// Encoder output prepared for decoding; the parts that do not change between steps.
#[derive(Debug, Clone)]
pub struct EncodedImages {
    /// `[B, P, E]`
    pub features: Tensor<3>,
    /// `U f`, `[B, P, A]`
    pub projected: Tensor<3>,
}

impl EncodedImages {
    pub fn batch_size(&self) -> usize {
        self.features.dims()[0]
    }

    /// Keeps the rows named by `indices` (in that order, repeats allowed): beam search uses it to
    /// give every hypothesis its image.
    pub fn select(&self, indices: Tensor<1, Int>) -> EncodedImages {
        EncodedImages {
            features: self.features.clone().select(0, indices.clone()),
            projected: self.projected.clone().select(0, indices),
        }
    }
}

/// What one decoding step produces.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// `[B, V]`, before softmax.
    pub logits: Tensor<2>,
    /// `[B, P]`, summing to 1 over P.
    pub alpha: Tensor<2>,
    pub state: LstmState,
}

impl Decoder {
    /// A freshly initialised decoder (weights are loaded over it, or trained).
    pub fn new(dims: &DecoderDims, device: &Device) -> Self {
        let (encoder_dim, decoder_dim) = (dims.encoder_dim, dims.decoder_dim);
        Decoder {
            embedding: EmbeddingConfig::new(dims.vocab_size, dims.embed_dim).init(device),
            attention: Attention::new(&dims.attention(), device),
            init_h: LinearConfig::new(encoder_dim, decoder_dim).init(device),
            init_c: LinearConfig::new(encoder_dim, decoder_dim).init(device),
            lstm_cell: LstmCell::new(dims.embed_dim + encoder_dim, decoder_dim, device),
            f_beta: dims
                .gate
                .then(|| LinearConfig::new(decoder_dim, encoder_dim).init(device)),
            dropout: DropoutConfig::new(dims.dropout).init(),
            fcn: LinearConfig::new(decoder_dim, dims.vocab_size).init(device),
        }
    }

    /// Precomputes what every step reuses: `features` `[B, P, E]`.
    pub fn prepare(&self, features: Tensor<3>) -> EncodedImages {
        let projected = self.attention.project_features(features.clone());
        EncodedImages { features, projected }
    }

    /// `h₀, c₀` from the mean feature vector.
    pub fn init_state(&self, encoded: &EncodedImages) -> LstmState {
        let [batch, _, dim] = encoded.features.dims();
        let mean = encoded.features.clone().mean_dim(1).reshape([batch, dim]); // [B, E]
        LstmState {
            h: self.init_h.forward(mean.clone()), // [B, D]
            c: self.init_c.forward(mean),         // [B, D]
        }
    }

    /// One step: `words` `[B]` are the previous words.
    pub fn step(&self, encoded: &EncodedImages, words: Tensor<1, Int>, state: LstmState) -> StepOutput {
        let (alpha, state) = self.recur(encoded, words, state);
        let logits = self.fcn.forward(self.dropout.forward(state.h.clone())); // [B, V]
        StepOutput { logits, alpha, state }
    }

    /// Attention and the LSTM cell: the recurrent part of a step, without the vocabulary
    /// projection. Returns (`alpha` `[B, P]`, the new state).
    fn recur(
        &self,
        encoded: &EncodedImages,
        words: Tensor<1, Int>,
        state: LstmState,
    ) -> (Tensor<2>, LstmState) {
        let batch = words.dims()[0];
        let embedded = self.embedding.forward(words.reshape([batch, 1])); // [B, 1, Em]
        let embed_dim = embedded.dims()[2];
        let embedded = embedded.reshape([batch, embed_dim]); // [B, Em]
        // [B, P], [B, E]
        let (alpha, context) = self.attention.forward(
            encoded.features.clone(),
            encoded.projected.clone(),
            state.h.clone(),
        );
        let context = match &self.f_beta {
            Some(f_beta) => sigmoid(f_beta.forward(state.h.clone())) * context, // [B, E]
            None => context,
        };
        let input = Tensor::cat(vec![embedded, context], 1); // [B, Em + E]
        let state = self.lstm_cell.forward(input, state); // h, c: [B, D]
        (alpha, state)
    }

    /// Teacher forcing: `captions` `[B, T]` (starting with the start token) →
    /// (`logits` `[B, T-1, V]` predicting `captions[:, 1:]`, `alphas` `[B, T-1, P]`), with the
    /// layer's own dropout (drawn from the backend's random stream while training).
    ///
    /// The same computation as T-1 calls of [`Self::step`], except that the vocabulary
    /// projection runs once over all steps: one large matrix product (and one weight gradient
    /// in training) instead of T-1 small ones.
    pub fn forward(&self, encoded: &EncodedImages, captions: Tensor<2, Int>) -> (Tensor<3>, Tensor<3>) {
        let (hidden, alphas) = self.hidden_states(encoded, captions); // [B, T-1, D], [B, T-1, P]
        (self.project(self.dropout.forward(hidden)), alphas)
    }

    /// [`Self::forward`] with the dropout given: `keep` `[B, T-1, D]` multiplies the hidden
    /// states (0 where dropped, 1/(1-p) where kept). A backend has one random stream per process,
    /// which data-parallel replicas in threads would draw from in whatever order they reach it;
    /// masks drawn by the caller make a run reproducible.
    pub fn forward_dropped(
        &self,
        encoded: &EncodedImages,
        captions: Tensor<2, Int>,
        keep: Tensor<3>,
    ) -> (Tensor<3>, Tensor<3>) {
        let (hidden, alphas) = self.hidden_states(encoded, captions); // [B, T-1, D], [B, T-1, P]
        (self.project(hidden * keep), alphas)
    }

    /// The LSTM's hidden states `[B, T-1, D]` and the attention `[B, T-1, P]` of every step of
    /// teacher forcing.
    fn hidden_states(&self, encoded: &EncodedImages, captions: Tensor<2, Int>) -> (Tensor<3>, Tensor<3>) {
        let steps = captions.dims()[1].saturating_sub(1);
        let mut state = self.init_state(encoded);
        let mut hidden = Vec::with_capacity(steps);
        let mut alphas = Vec::with_capacity(steps);
        for t in 0..steps {
            let words = captions.clone().narrow(1, t, 1).reshape([-1]); // [B]
            let (alpha, next) = self.recur(encoded, words, state);
            hidden.push(next.h.clone());
            alphas.push(alpha);
            state = next;
        }
        (Tensor::stack(hidden, 1), Tensor::stack(alphas, 1))
    }

    /// The vocabulary projection of every step at once: `hidden` `[B, T-1, D]` → `[B, T-1, V]`.
    fn project(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [batch, steps, dim] = hidden.dims();
        self.fcn
            .forward(hidden.reshape([batch * steps, dim])) // [B·(T-1), V]
            .reshape([batch as i32, steps as i32, -1])
    }
}

impl TorchParams for Decoder {
    fn visit_params(&mut self, prefix: &str, visit: &mut dyn FnMut(String, ParamSlot<'_>)) {
        self.embedding.visit_params(&join(prefix, "embedding"), visit);
        self.attention.visit_params(&join(prefix, "attention"), visit);
        self.init_h.visit_params(&join(prefix, "init_h"), visit);
        self.init_c.visit_params(&join(prefix, "init_c"), visit);
        self.lstm_cell.visit_params(&join(prefix, "lstm_cell"), visit);
        if let Some(f_beta) = &mut self.f_beta {
            f_beta.visit_params(&join(prefix, "f_beta"), visit);
        }
        self.fcn.visit_params(&join(prefix, "fcn"), visit);
    }
}
