"""Train an elastic-net linear model on scikit-learn's bundled diabetes data.

Run by trackbook as a project (the run is created by the launcher, and
``tb.start_run()`` below continues it), or directly: ``python train.py --alpha 0.1``.
Logs the parameters, validation RMSE / MAE / R2 after every epoch, and the final
coefficients. Everything is seeded, so a run is reproducible.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import SGDRegressor
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import trackbook as tb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.1, help="regularisation strength")
    parser.add_argument("--l1-ratio", type=float, default=0.5, help="0 = ridge, 1 = lasso")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0.0 <= args.l1_ratio <= 1.0:
        parser.error(f"--l1-ratio must be between 0 and 1, got {args.l1_ratio}")
    if args.alpha < 0 or args.epochs < 1:
        parser.error("--alpha must be >= 0 and --epochs >= 1")

    data = load_diabetes(as_frame=True)  # bundled with scikit-learn: no download
    frame = data.frame
    X_train, X_val, y_train, y_val = train_test_split(
        frame[data.feature_names], frame["target"], test_size=0.25, random_state=args.seed)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    y_mean, y_std = float(y_train.mean()), float(y_train.std())

    model = SGDRegressor(penalty="elasticnet", alpha=args.alpha, l1_ratio=args.l1_ratio,
                         learning_rate="invscaling", eta0=0.01, random_state=args.seed)
    rng = np.random.default_rng(args.seed)
    with tb.start_run():
        tb.log_params({"alpha": args.alpha, "l1_ratio": args.l1_ratio,
                       "epochs": args.epochs, "seed": args.seed})
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(len(X_train))
            model.partial_fit(X_train[order], ((y_train.to_numpy() - y_mean) / y_std)[order])
            pred = model.predict(X_val) * y_std + y_mean
            rmse = float(np.sqrt(mean_squared_error(y_val, pred)))
            tb.log_metrics({"val_rmse": rmse, "val_mae": mean_absolute_error(y_val, pred),
                            "val_r2": r2_score(y_val, pred)}, step=epoch)
            if epoch % 5 == 0 or epoch == args.epochs:
                print(f"epoch {epoch:3d}: val_rmse {rmse:.2f}")
        coefficients = dict(zip(data.feature_names, model.coef_.round(4).tolist(),
                                strict=True))
        tb.log_dict({"coefficients": coefficients, "intercept": float(model.intercept_[0])},
                    "model.json")
        print(f"alpha={args.alpha} l1_ratio={args.l1_ratio}: val_rmse {rmse:.2f}, "
              f"non-zero coefficients {sum(1 for c in coefficients.values() if c)}")


if __name__ == "__main__":
    main()
