"""Which estimator a training job builds.

The `estimator` hyperparameter picks an entry of ESTIMATORS (ESTIMATOR when it is not
given); every other hyperparameter is a parameter of that estimator, checked against its
get_params(), except the four `train` reads itself: label_column, categorical_columns,
positive_class and seed. To bring another algorithm, add one line to ESTIMATORS: any
callable that returns an object with fit() and predict() works, a scikit-learn Pipeline
included. For data with text columns or missing values, `train` puts the encoding in front
of it (container/preprocessing.py), so the saved model takes the raw rows.

`estimator` may also be an import path: a scikit-learn class (sklearn.svm.SVC), or a class or
function in this package or in a module TRUSTED_MODULES lists (["xgboost"] allows
xgboost.XGBClassifier). Any other path is refused before anything is imported.

A model whose every type is scikit-learn's is saved as model.skops, which loads without
running code; one holding other types (xgboost's, your own classes) is saved with joblib,
a pickle, which byoc loads only inside the image.
"""

from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ESTIMATORS = {
    "random_forest": RandomForestClassifier,
    "random_forest_regressor": RandomForestRegressor,
    "gradient_boosting": HistGradientBoostingClassifier,
    "gradient_boosting_regressor": HistGradientBoostingRegressor,
    "logistic_regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
}

ESTIMATOR = "random_forest"

#: Modules besides sklearn (and this package) that the `estimator` hyperparameter may name.
TRUSTED_MODULES: list[str] = []
